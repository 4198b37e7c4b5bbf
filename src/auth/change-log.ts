/**
 * Keeping every process's caches true. A write that can change a credential decision records the change in the
 * same transaction (`record`), which also drops the entry from this process's cache at once: the transaction is
 * synchronous, so no request of this process can run between the drop and the commit, and the next one reloads the
 * committed row. Other processes sharing the file `poll` the log a few times a second and drop what changed.
 *
 * Writers take the write lock (BEGIN IMMEDIATE), so sequence numbers become visible in order and a poll never skips
 * one. Rows older than the retention are pruned; a process whose last seen number was pruned before it read it
 * cannot know what it missed and drops all its caches.
 */
import type { Db } from "../db/client.ts";
import type { Executor } from "../db/executor.ts";
import type { ChangeRow } from "../db/schema.ts";
import type { CredentialCache } from "./credential-cache.ts";
import { insertChange, latestChangeSeq, listChangesAfter, pruneChangesBefore } from "./credential-store.ts";

const POLL_BATCH = 1000;
export const CHANGE_RETENTION_MILLISECONDS = 60 * 60 * 1000;

export class ChangeLog {
  private lastSeenSeq: number;
  /** Optional listener for the tokens cache or metrics: called for every change applied. */
  constructor(
    private readonly db: Db,
    private readonly cache: CredentialCache,
    private readonly onChange: (entity: ChangeRow["entity"], entityId: string) => void = () => {},
  ) {
    this.lastSeenSeq = latestChangeSeq(db);
  }

  record(executor: Executor, entity: ChangeRow["entity"], entityId: string, nowMilliseconds: number): void {
    insertChange(executor, entity, entityId, nowMilliseconds);
    this.apply(entity, entityId);
  }

  /** Applies changes other processes committed since the last poll; returns how many. */
  poll(): number {
    let applied = 0;
    for (;;) {
      const rows = listChangesAfter(this.db, this.lastSeenSeq, POLL_BATCH);
      if (rows.length === 0) return applied;
      if (rows[0]!.seq > this.lastSeenSeq + 1) this.cache.clear();
      for (const row of rows) this.apply(row.entity, row.entityId);
      this.lastSeenSeq = rows[rows.length - 1]!.seq;
      applied += rows.length;
      if (rows.length < POLL_BATCH) return applied;
    }
  }

  prune(nowMilliseconds: number): number {
    return pruneChangesBefore(this.db, nowMilliseconds - CHANGE_RETENTION_MILLISECONDS);
  }

  private apply(entity: ChangeRow["entity"], entityId: string): void {
    this.cache.evict(entity, entityId);
    this.onChange(entity, entityId);
  }
}
