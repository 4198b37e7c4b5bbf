/** A key's verifications counted by outcome per UTC hour, in the database (either engine: see src/db/storage.ts). */
import { and, asc, eq, gte, lt, sql } from "drizzle-orm";
import type { KeyOutcomeRow } from "../../db/schema.ts";
import type { Executor } from "../../db/storage.ts";

/** Adds counts to their hours, creating the rows that do not exist yet: several nodes may add to one row. */
export async function addKeyOutcomes(db: Executor, rows: readonly KeyOutcomeRow[]): Promise<void> {
  const { keyOutcomes } = db.tables;
  for (const row of rows) {
    await db.drizzle
      .insert(keyOutcomes)
      .values(row)
      .onConflictDoUpdate({
        target: [keyOutcomes.keyId, keyOutcomes.hourStartMs, keyOutcomes.outcome],
        set: { count: sql`${keyOutcomes.count} + ${row.count}` },
      });
  }
}

/** The key's counts for the hours starting in [fromMs, untilMs), oldest first. */
export async function listKeyOutcomes(
  db: Executor,
  keyId: string,
  fromMs: number,
  untilMs: number,
): Promise<KeyOutcomeRow[]> {
  const { keyOutcomes } = db.tables;
  return db.drizzle
    .select()
    .from(keyOutcomes)
    .where(
      and(eq(keyOutcomes.keyId, keyId), gte(keyOutcomes.hourStartMs, fromMs), lt(keyOutcomes.hourStartMs, untilMs)),
    )
    .orderBy(asc(keyOutcomes.hourStartMs));
}

/** Removes the hours that started before `beforeMs`; returns how many rows went. */
export async function pruneKeyOutcomes(db: Executor, beforeMs: number): Promise<number> {
  const { keyOutcomes } = db.tables;
  const removed = await db.drizzle
    .delete(keyOutcomes)
    .where(lt(keyOutcomes.hourStartMs, beforeMs))
    .returning({ keyId: keyOutcomes.keyId });
  return removed.length;
}
