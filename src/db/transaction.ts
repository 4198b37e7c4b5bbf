/**
 * Writes: one helper for every transaction that changes something, so the locking rule lives in one place. SQLite
 * takes the write lock at BEGIN (IMMEDIATE), so a transaction that reads and then writes never finds, at its first
 * write, that another process changed what it read; and change-log sequence numbers commit in order.
 *
 * The callback must be synchronous: bun:sqlite does not roll back the writes of an async callback that throws.
 */
import type { Db } from "./client.ts";
import type { Executor } from "./executor.ts";

export function writeTransaction<Result>(db: Db, work: (tx: Executor) => Result): Result {
  return db.transaction(work, { behavior: "immediate" });
}
