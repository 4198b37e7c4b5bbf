/**
 * CLI login sessions in the database. Every transition is one guarded UPDATE (`WHERE status = …`), so of any number
 * of concurrent attempts exactly one changes the row; callers learn whether theirs did from the count of changed rows.
 */
import { and, eq, isNotNull, isNull, lte, or, sql } from "drizzle-orm";
import type { Executor } from "../db/executor.ts";
import { type CliSessionRow, cliSessions } from "../db/schema.ts";

function changedRows(result: unknown): number {
  return (result as { changes: number }).changes;
}

export function insertCliSession(executor: Executor, row: CliSessionRow): void {
  executor.insert(cliSessions).values(row).run();
}

export function findCliSession(executor: Executor, idHash: string): CliSessionRow | undefined {
  return executor.select().from(cliSessions).where(eq(cliSessions.idHash, idHash)).get();
}

export function findPendingCliSessionByUserCode(executor: Executor, userCode: string): CliSessionRow | undefined {
  return executor
    .select()
    .from(cliSessions)
    .where(and(eq(cliSessions.userCode, userCode), eq(cliSessions.status, "pending")))
    .get();
}

export function isPendingUserCodeTaken(executor: Executor, userCode: string): boolean {
  return findPendingCliSessionByUserCode(executor, userCode) !== undefined;
}

/** Records a poll unless the previous one was less than the session's interval ago. */
export function recordPoll(executor: Executor, idHash: string, nowMilliseconds: number): boolean {
  const result = executor
    .update(cliSessions)
    .set({ lastPolledAtMs: nowMilliseconds })
    .where(
      and(
        eq(cliSessions.idHash, idHash),
        or(
          isNull(cliSessions.lastPolledAtMs),
          lte(cliSessions.lastPolledAtMs, sql`${nowMilliseconds} - ${cliSessions.pollIntervalSeconds} * 1000`),
        ),
      ),
    )
    .run();
  return changedRows(result) === 1;
}

/** RFC 8628 slow_down: the client must wait five more seconds from now on. */
export function slowDown(executor: Executor, idHash: string, nowMilliseconds: number): void {
  executor
    .update(cliSessions)
    .set({ pollIntervalSeconds: sql`${cliSessions.pollIntervalSeconds} + 5`, lastPolledAtMs: nowMilliseconds })
    .where(eq(cliSessions.idHash, idHash))
    .run();
}

/** The guard of every decision: the session is still pending and its time has not run out. */
function stillPending(idHash: string, nowMilliseconds: number) {
  return and(
    eq(cliSessions.idHash, idHash),
    eq(cliSessions.status, "pending"),
    sql`${cliSessions.expiresAtMs} > ${nowMilliseconds}`,
  );
}

export function markApproved(
  executor: Executor,
  idHash: string,
  approval: { approvedBy: string; keyId: string; sealedKey: string },
  nowMilliseconds: number,
): boolean {
  const result = executor
    .update(cliSessions)
    .set({ status: "approved", decidedAtMs: nowMilliseconds, ...approval })
    .where(stillPending(idHash, nowMilliseconds))
    .run();
  return changedRows(result) === 1;
}

export function markDenied(executor: Executor, idHash: string, deniedBy: string, nowMilliseconds: number): boolean {
  const result = executor
    .update(cliSessions)
    .set({ status: "denied", decidedAtMs: nowMilliseconds, approvedBy: deniedBy })
    .where(stillPending(idHash, nowMilliseconds))
    .run();
  return changedRows(result) === 1;
}

export function markFirstDelivery(executor: Executor, idHash: string, nowMilliseconds: number): boolean {
  const result = executor
    .update(cliSessions)
    .set({ firstDeliveredAtMs: nowMilliseconds })
    .where(
      and(eq(cliSessions.idHash, idHash), eq(cliSessions.status, "approved"), isNull(cliSessions.firstDeliveredAtMs)),
    )
    .run();
  return changedRows(result) === 1;
}

/** Acknowledged: the CLI has the key; the sealed copy is wiped. */
export function markDelivered(executor: Executor, idHash: string): boolean {
  const result = executor
    .update(cliSessions)
    .set({ status: "delivered", sealedKey: null })
    .where(and(eq(cliSessions.idHash, idHash), eq(cliSessions.status, "approved")))
    .run();
  return changedRows(result) === 1;
}

export function markExpired(executor: Executor, idHash: string): boolean {
  const result = executor
    .update(cliSessions)
    .set({ status: "expired", sealedKey: null })
    .where(
      and(eq(cliSessions.idHash, idHash), or(eq(cliSessions.status, "pending"), eq(cliSessions.status, "approved"))),
    )
    .run();
  return changedRows(result) === 1;
}

/** Sessions whose time ran out but whose row does not say so yet: pending past expiry, keys past their window. */
export function listLapsedCliSessions(
  executor: Executor,
  nowMilliseconds: number,
  deliveryWindowMs: number,
): CliSessionRow[] {
  return executor
    .select()
    .from(cliSessions)
    .where(
      or(
        and(eq(cliSessions.status, "pending"), lte(cliSessions.expiresAtMs, nowMilliseconds)),
        and(
          eq(cliSessions.status, "approved"),
          isNotNull(cliSessions.firstDeliveredAtMs),
          lte(cliSessions.firstDeliveredAtMs, nowMilliseconds - deliveryWindowMs),
        ),
      ),
    )
    .limit(1000)
    .all();
}
