/**
 * CLI logins in the database (either engine: see src/db/storage.ts). Every transition is one guarded UPDATE
 * (`WHERE status = …`), so of any number of concurrent attempts exactly one changes the row; callers learn whether
 * theirs did from the rows it returns.
 */
import { and, eq, isNotNull, isNull, lte, or, type SQL, sql } from "drizzle-orm";
import type { CliLoginRow } from "../../db/schema.ts";
import { type Executor, first } from "../../db/storage.ts";

/** A number bound as a 64-bit integer: PostgreSQL would otherwise guess 32 bits for a bare parameter in arithmetic. */
function bigint(value: number): SQL {
  return sql`CAST(${value} AS BIGINT)`;
}

export async function insertCliLogin(x: Executor, row: CliLoginRow): Promise<void> {
  await x.q.insert(x.t.cliLogins).values(row);
}

export async function findCliLogin(x: Executor, idHash: string): Promise<CliLoginRow | undefined> {
  return first(await x.q.select().from(x.t.cliLogins).where(eq(x.t.cliLogins.idHash, idHash)).limit(1));
}

export async function findPendingCliLoginByUserCode(x: Executor, userCode: string): Promise<CliLoginRow | undefined> {
  const { cliLogins } = x.t;
  return first(
    await x.q
      .select()
      .from(cliLogins)
      .where(and(eq(cliLogins.userCode, userCode), eq(cliLogins.status, "pending")))
      .limit(1),
  );
}

export async function isPendingUserCodeTaken(x: Executor, userCode: string): Promise<boolean> {
  return (await findPendingCliLoginByUserCode(x, userCode)) !== undefined;
}

/** Changes the login's row where `guard` holds; true when it did. */
async function changed(
  x: Executor,
  idHash: string,
  guard: SQL | undefined,
  values: Partial<CliLoginRow>,
): Promise<boolean> {
  const { cliLogins } = x.t;
  const rows = await x.q
    .update(cliLogins)
    .set(values)
    .where(and(eq(cliLogins.idHash, idHash), guard))
    .returning({ idHash: cliLogins.idHash });
  return rows.length === 1;
}

/** Records a poll unless the previous one was less than the login's interval ago. */
export async function recordPoll(x: Executor, idHash: string, nowMilliseconds: number): Promise<boolean> {
  const { cliLogins } = x.t;
  const paced = or(
    isNull(cliLogins.lastPolledAtMs),
    lte(cliLogins.lastPolledAtMs, sql`${bigint(nowMilliseconds)} - ${cliLogins.pollIntervalSeconds} * 1000`),
  );
  return changed(x, idHash, paced, { lastPolledAtMs: nowMilliseconds });
}

/** RFC 8628 slow_down: the client must wait five more seconds from now on. */
export async function slowDown(x: Executor, idHash: string, nowMilliseconds: number): Promise<void> {
  const { cliLogins } = x.t;
  await x.q
    .update(cliLogins)
    .set({ pollIntervalSeconds: sql`${cliLogins.pollIntervalSeconds} + 5`, lastPolledAtMs: nowMilliseconds })
    .where(eq(cliLogins.idHash, idHash));
}

/** The guard of every decision: the login is still pending and its time has not run out. */
function stillPending(x: Executor, nowMilliseconds: number): SQL | undefined {
  const { cliLogins } = x.t;
  return and(eq(cliLogins.status, "pending"), sql`${cliLogins.expiresAtMs} > ${bigint(nowMilliseconds)}`);
}

export async function markApproved(
  x: Executor,
  idHash: string,
  approval: { approvedBy: string; keyId: string; sealedKey: string },
  nowMilliseconds: number,
): Promise<boolean> {
  return changed(x, idHash, stillPending(x, nowMilliseconds), {
    status: "approved",
    decidedAtMs: nowMilliseconds,
    ...approval,
  });
}

export async function markDenied(
  x: Executor,
  idHash: string,
  deniedBy: string,
  nowMilliseconds: number,
): Promise<boolean> {
  return changed(x, idHash, stillPending(x, nowMilliseconds), {
    status: "denied",
    decidedAtMs: nowMilliseconds,
    approvedBy: deniedBy,
  });
}

export async function markFirstDelivery(x: Executor, idHash: string, nowMilliseconds: number): Promise<boolean> {
  const { cliLogins } = x.t;
  const undelivered = and(eq(cliLogins.status, "approved"), isNull(cliLogins.firstDeliveredAtMs));
  return changed(x, idHash, undelivered, { firstDeliveredAtMs: nowMilliseconds });
}

/** Acknowledged: the CLI has the key; the sealed copy is wiped. */
export async function markDelivered(x: Executor, idHash: string): Promise<boolean> {
  return changed(x, idHash, eq(x.t.cliLogins.status, "approved"), { status: "delivered", sealedKey: null });
}

export async function markExpired(x: Executor, idHash: string): Promise<boolean> {
  const { cliLogins } = x.t;
  const live = or(eq(cliLogins.status, "pending"), eq(cliLogins.status, "approved"));
  return changed(x, idHash, live, { status: "expired", sealedKey: null });
}

/** Logins whose time ran out but whose row does not say so yet: pending past expiry, keys past their window. */
export async function listLapsedCliLogins(
  x: Executor,
  nowMilliseconds: number,
  deliveryWindowMs: number,
): Promise<CliLoginRow[]> {
  const { cliLogins } = x.t;
  return x.q
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
    .limit(1000);
}

/** Whose wrong user codes a miss counts against: the approving key, the project it acts in, the client address. */
export interface WrongCodeCounts {
  projectId: string;
  keyId: string;
  ip: string | null;
}

/** Wrong user codes recorded after `sinceMilliseconds`, counted for each of the three. */
export async function countWrongCodes(
  x: Executor,
  by: WrongCodeCounts,
  sinceMilliseconds: number,
): Promise<{ project: number; key: number; ip: number }> {
  const { cliWrongCodes: t } = x.t;
  const counted = (condition: SQL) => sql`CAST(count(*) FILTER (WHERE ${condition}) AS INTEGER)`.mapWith(Number);
  const [row] = await x.q
    .select({
      project: counted(eq(t.projectId, by.projectId)),
      key: counted(eq(t.keyId, by.keyId)),
      ip: by.ip === null ? sql`0`.mapWith(Number) : counted(eq(t.ip, by.ip)),
    })
    .from(t)
    .where(
      and(
        sql`${t.atMs} > ${bigint(sinceMilliseconds)}`,
        or(eq(t.projectId, by.projectId), eq(t.keyId, by.keyId), by.ip === null ? undefined : eq(t.ip, by.ip)),
      ),
    );
  return { project: row?.project ?? 0, key: row?.key ?? 0, ip: row?.ip ?? 0 };
}

export async function recordWrongCode(x: Executor, by: WrongCodeCounts, nowMilliseconds: number): Promise<void> {
  await x.q.insert(x.t.cliWrongCodes).values({ ...by, atMs: nowMilliseconds });
}

export async function forgetWrongCodesUntil(x: Executor, untilMilliseconds: number): Promise<void> {
  await x.q.delete(x.t.cliWrongCodes).where(lte(x.t.cliWrongCodes.atMs, untilMilliseconds));
}
