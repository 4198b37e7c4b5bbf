/**
 * What a write that can change a credential decision owes the caches: a change record in its own transaction (see
 * src/auth/change-log.ts, which implements this and keeps every node's caches true). Domain services depend on this
 * interface, not on the change log itself, which sits above them.
 */
import type { ChangedEntity, Executor } from "./storage.ts";

export type { ChangedEntity };

export interface ChangeRecorder {
  record(tx: Executor, entity: ChangedEntity, entityId: string, nowMilliseconds: number): Promise<void>;
}
