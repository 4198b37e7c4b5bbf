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

export async function insertCliLogin(db: Executor, row: CliLoginRow): Promise<void> {
  await db.drizzle.insert(db.tables.cliLogins).values(row);
}

export async function findCliLogin(db: Executor, idHash: string): Promise<CliLoginRow | undefined> {
  return first(
    await db.drizzle.select().from(db.tables.cliLogins).where(eq(db.tables.cliLogins.idHash, idHash)).limit(1),
  );
}

export async function findPendingCliLoginByUserCode(db: Executor, userCode: string): Promise<CliLoginRow | undefined> {
  const { cliLogins } = db.tables;
  return first(
    await db.drizzle
      .select()
      .from(cliLogins)
      .where(and(eq(cliLogins.userCode, userCode), eq(cliLogins.status, "pending")))
      .limit(1),
  );
}

export async function isPendingUserCodeTaken(db: Executor, userCode: string): Promise<boolean> {
  return (await findPendingCliLoginByUserCode(db, userCode)) !== undefined;
}

/** Changes the login's row where `guard` holds; true when it did. */
async function changed(
  db: Executor,
  idHash: string,
  guard: SQL | undefined,
  values: Partial<CliLoginRow>,
): Promise<boolean> {
  const { cliLogins } = db.tables;
  const rows = await db.drizzle
    .update(cliLogins)
    .set(values)
    .where(and(eq(cliLogins.idHash, idHash), guard))
    .returning({ idHash: cliLogins.idHash });
  return rows.length === 1;
}

/** Records a poll unless the previous one was less than the login's interval ago. */
export async function recordPoll(db: Executor, idHash: string, nowMilliseconds: number): Promise<boolean> {
  const { cliLogins } = db.tables;
  const paced = or(
    isNull(cliLogins.lastPolledAtMs),
    lte(cliLogins.lastPolledAtMs, sql`${bigint(nowMilliseconds)} - ${cliLogins.pollIntervalSeconds} * 1000`),
  );
  return changed(db, idHash, paced, { lastPolledAtMs: nowMilliseconds });
}

/** RFC 8628 slow_down: the client must wait five more seconds from now on. */
export async function slowDown(db: Executor, idHash: string, nowMilliseconds: number): Promise<void> {
  const { cliLogins } = db.tables;
  await db.drizzle
    .update(cliLogins)
    .set({ pollIntervalSeconds: sql`${cliLogins.pollIntervalSeconds} + 5`, lastPolledAtMs: nowMilliseconds })
    .where(eq(cliLogins.idHash, idHash));
}

/** The guard of every decision: the login is still pending and its time has not run out. */
function stillPending(db: Executor, nowMilliseconds: number): SQL | undefined {
  const { cliLogins } = db.tables;
  return and(eq(cliLogins.status, "pending"), sql`${cliLogins.expiresAtMs} > ${bigint(nowMilliseconds)}`);
}

export async function markApproved(
  db: Executor,
  idHash: string,
  approval: { approvedBy: string; keyId: string; sealedKey: string },
  nowMilliseconds: number,
): Promise<boolean> {
  return changed(db, idHash, stillPending(db, nowMilliseconds), {
    status: "approved",
    decidedAtMs: nowMilliseconds,
    ...approval,
  });
}

export async function markDenied(
  db: Executor,
  idHash: string,
  deniedBy: string,
  nowMilliseconds: number,
): Promise<boolean> {
  return changed(db, idHash, stillPending(db, nowMilliseconds), {
    status: "denied",
    decidedAtMs: nowMilliseconds,
    approvedBy: deniedBy,
  });
}

export async function markFirstDelivery(db: Executor, idHash: string, nowMilliseconds: number): Promise<boolean> {
  const { cliLogins } = db.tables;
  const undelivered = and(eq(cliLogins.status, "approved"), isNull(cliLogins.firstDeliveredAtMs));
  return changed(db, idHash, undelivered, { firstDeliveredAtMs: nowMilliseconds });
}

/** Acknowledged: the CLI has the key; the sealed copy is wiped. */
export async function markDelivered(db: Executor, idHash: string): Promise<boolean> {
  return changed(db, idHash, eq(db.tables.cliLogins.status, "approved"), { status: "delivered", sealedKey: null });
}

export async function markExpired(db: Executor, idHash: string): Promise<boolean> {
  const { cliLogins } = db.tables;
  const live = or(eq(cliLogins.status, "pending"), eq(cliLogins.status, "approved"));
  return changed(db, idHash, live, { status: "expired", sealedKey: null });
}

/** Logins whose time ran out but whose row does not say so yet: pending past expiry, keys past their window. */
export async function listLapsedCliLogins(
  db: Executor,
  nowMilliseconds: number,
  deliveryWindowMs: number,
): Promise<CliLoginRow[]> {
  const { cliLogins } = db.tables;
  return db.drizzle
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
  db: Executor,
  by: WrongCodeCounts,
  sinceMilliseconds: number,
): Promise<{ project: number; key: number; ip: number }> {
  const { cliWrongCodes: t } = db.tables;
  const counted = (condition: SQL) => sql`CAST(count(*) FILTER (WHERE ${condition}) AS INTEGER)`.mapWith(Number);
  const [row] = await db.drizzle
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

export async function recordWrongCode(db: Executor, by: WrongCodeCounts, nowMilliseconds: number): Promise<void> {
  await db.drizzle.insert(db.tables.cliWrongCodes).values({ ...by, atMs: nowMilliseconds });
}

export async function forgetWrongCodesUntil(db: Executor, untilMilliseconds: number): Promise<void> {
  await db.drizzle.delete(db.tables.cliWrongCodes).where(lte(db.tables.cliWrongCodes.atMs, untilMilliseconds));
}
