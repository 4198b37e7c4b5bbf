/**
 * CLI logins in the database. Every transition is one guarded UPDATE (`WHERE status = …`), so of any number
 * of concurrent attempts exactly one changes the row; callers learn whether theirs did from the count of changed rows.
 */
import { and, eq, isNotNull, isNull, lte, or, sql } from "drizzle-orm";
import type { Executor } from "../db/executor.ts";
import { type CliLoginRow, cliLogins } from "../db/schema.ts";

function changedRows(result: unknown): number {
  return (result as { changes: number }).changes;
}

export function insertCliLogin(executor: Executor, row: CliLoginRow): void {
  executor.insert(cliLogins).values(row).run();
}

export function findCliLogin(executor: Executor, idHash: string): CliLoginRow | undefined {
  return executor.select().from(cliLogins).where(eq(cliLogins.idHash, idHash)).get();
}

export function findPendingCliLoginByUserCode(executor: Executor, userCode: string): CliLoginRow | undefined {
  return executor
    .select()
    .from(cliLogins)
    .where(and(eq(cliLogins.userCode, userCode), eq(cliLogins.status, "pending")))
    .get();
}

export function isPendingUserCodeTaken(executor: Executor, userCode: string): boolean {
  return findPendingCliLoginByUserCode(executor, userCode) !== undefined;
}

/** Records a poll unless the previous one was less than the session's interval ago. */
export function recordPoll(executor: Executor, idHash: string, nowMilliseconds: number): boolean {
  const result = executor
    .update(cliLogins)
    .set({ lastPolledAtMs: nowMilliseconds })
    .where(
      and(
        eq(cliLogins.idHash, idHash),
        or(
          isNull(cliLogins.lastPolledAtMs),
          lte(cliLogins.lastPolledAtMs, sql`${nowMilliseconds} - ${cliLogins.pollIntervalSeconds} * 1000`),
        ),
      ),
    )
    .run();
  return changedRows(result) === 1;
}

/** RFC 8628 slow_down: the client must wait five more seconds from now on. */
export function slowDown(executor: Executor, idHash: string, nowMilliseconds: number): void {
  executor
    .update(cliLogins)
    .set({ pollIntervalSeconds: sql`${cliLogins.pollIntervalSeconds} + 5`, lastPolledAtMs: nowMilliseconds })
    .where(eq(cliLogins.idHash, idHash))
    .run();
}

/** The guard of every decision: the session is still pending and its time has not run out. */
function stillPending(idHash: string, nowMilliseconds: number) {
  return and(
    eq(cliLogins.idHash, idHash),
    eq(cliLogins.status, "pending"),
    sql`${cliLogins.expiresAtMs} > ${nowMilliseconds}`,
  );
}

export function markApproved(
  executor: Executor,
  idHash: string,
  approval: { approvedBy: string; keyId: string; sealedKey: string },
  nowMilliseconds: number,
): boolean {
  const result = executor
    .update(cliLogins)
    .set({ status: "approved", decidedAtMs: nowMilliseconds, ...approval })
    .where(stillPending(idHash, nowMilliseconds))
    .run();
  return changedRows(result) === 1;
}

export function markDenied(executor: Executor, idHash: string, deniedBy: string, nowMilliseconds: number): boolean {
  const result = executor
    .update(cliLogins)
    .set({ status: "denied", decidedAtMs: nowMilliseconds, approvedBy: deniedBy })
    .where(stillPending(idHash, nowMilliseconds))
    .run();
  return changedRows(result) === 1;
}

export function markFirstDelivery(executor: Executor, idHash: string, nowMilliseconds: number): boolean {
  const result = executor
    .update(cliLogins)
    .set({ firstDeliveredAtMs: nowMilliseconds })
    .where(and(eq(cliLogins.idHash, idHash), eq(cliLogins.status, "approved"), isNull(cliLogins.firstDeliveredAtMs)))
    .run();
  return changedRows(result) === 1;
}

/** Acknowledged: the CLI has the key; the sealed copy is wiped. */
export function markDelivered(executor: Executor, idHash: string): boolean {
  const result = executor
    .update(cliLogins)
    .set({ status: "delivered", sealedKey: null })
    .where(and(eq(cliLogins.idHash, idHash), eq(cliLogins.status, "approved")))
    .run();
  return changedRows(result) === 1;
}

export function markExpired(executor: Executor, idHash: string): boolean {
  const result = executor
    .update(cliLogins)
    .set({ status: "expired", sealedKey: null })
    .where(and(eq(cliLogins.idHash, idHash), or(eq(cliLogins.status, "pending"), eq(cliLogins.status, "approved"))))
    .run();
  return changedRows(result) === 1;
}

/** Sessions whose time ran out but whose row does not say so yet: pending past expiry, keys past their window. */
export function listLapsedCliLogins(
  executor: Executor,
  nowMilliseconds: number,
  deliveryWindowMs: number,
): CliLoginRow[] {
  return executor
    .select()
    .from(cliLogins)
    .where(
      or(
        and(eq(cliLogins.status, "pending"), lte(cliLogins.expiresAtMs, nowMilliseconds)),
        and(
          eq(cliLogins.status, "approved"),
          isNotNull(cliLogins.firstDeliveredAtMs),
          lte(cliLogins.firstDeliveredAtMs, nowMilliseconds - deliveryWindowMs),
        ),
      ),
    )
    .limit(1000)
    .all();
}
