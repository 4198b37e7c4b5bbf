/**
 * What a write that can change a credential decision owes the caches: a change record in its own transaction (see
 * src/auth/change-log.ts, which implements this and keeps every process's caches true). Domain services depend on
 * this interface, not on the change log itself, which sits above them.
 */
import type { Executor } from "./executor.ts";
import type { ChangeRow } from "./schema.ts";

export type ChangedEntity = ChangeRow["entity"];

export interface ChangeRecorder {
  record(executor: Executor, entity: ChangedEntity, entityId: string, nowMilliseconds: number): void;
}
