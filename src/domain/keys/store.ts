/** API keys and their secrets in the database (either engine: see src/db/storage.ts). */
import { and, desc, eq, gt, gte, inArray, isNotNull, isNull, lt, lte, or, type SQL, sql } from "drizzle-orm";
import type { ApiKeyRow, KeySecretRow } from "../../db/schema.ts";
import { type Executor, first } from "../../db/storage.ts";
import type { PageRequest } from "../../lib/pagination.ts";

export async function insertKey(db: Executor, key: ApiKeyRow, secret: KeySecretRow): Promise<void> {
  await db.drizzle.insert(db.tables.apiKeys).values(key);
  await db.drizzle.insert(db.tables.keySecrets).values(secret);
}

export async function findKey(db: Executor, keyId: string): Promise<ApiKeyRow | undefined> {
  return first(await db.drizzle.select().from(db.tables.apiKeys).where(eq(db.tables.apiKeys.id, keyId)).limit(1));
}

/**
 * The key a secret's hash belongs to (any of its secrets, retired ones included). Defence in depth: the row must be
 * the one asked for (the same hash): a driver that ever handed back another query's rows must not turn them into
 * another key's "allowed".
 */
export async function findKeyIdBySecretHash(db: Executor, secretHash: string): Promise<string | undefined> {
  const { keySecrets } = db.tables;
  const row = first(
    await db.drizzle
      .select({ keyId: keySecrets.keyId, hash: keySecrets.hash })
      .from(keySecrets)
      .where(eq(keySecrets.hash, secretHash))
      .limit(1),
  );
  return row?.hash === secretHash ? row.keyId : undefined;
}

export interface KeyProject {
  id: string;
  tenantId: string;
  keyPrefix: string;
  ratelimitLimit: number;
  ratelimitWindowSeconds: number;
  deletedAtMs: number | null;
}

/**
 * What a key needs of its project: the tenant it belongs to, the prefix its secrets take, its default bucket, and
 * whether it is deleted.
 */
export async function findKeyProject(db: Executor, projectId: string): Promise<KeyProject | undefined> {
  const { projects } = db.tables;
  return first(
    await db.drizzle
      .select({
        id: projects.id,
        tenantId: projects.tenantId,
        keyPrefix: projects.keyPrefix,
        deletedAtMs: projects.deletedAtMs,
        ratelimitLimit: projects.ratelimitLimit,
        ratelimitWindowSeconds: projects.ratelimitWindowSeconds,
      })
      .from(projects)
      .where(eq(projects.id, projectId))
      .limit(1),
  );
}

export async function findRootKey(db: Executor): Promise<ApiKeyRow | undefined> {
  return first(await db.drizzle.select().from(db.tables.apiKeys).where(eq(db.tables.apiKeys.isRoot, true)).limit(1));
}

export interface KeyListFilter extends PageRequest {
  projectId: string;
  owner?: string;
  /** A prefix of the name, compared exactly (case included) on both engines. */
  namePrefix?: string;
  enabled?: boolean;
  revoked?: boolean;
  /** Whether the key is past its expiry at `nowMilliseconds`. */
  expired?: boolean;
  createdFromMs?: number;
  createdBeforeMs?: number;
  includeRoot: boolean;
  nowMilliseconds: number;
}

/** Newest first, one more row than asked so the caller can tell whether another page exists. */
export async function listKeys(db: Executor, filter: KeyListFilter): Promise<ApiKeyRow[]> {
  const { apiKeys } = db.tables;
  const conditions: SQL[] = [eq(apiKeys.projectId, filter.projectId)];
  if (!filter.includeRoot) conditions.push(eq(apiKeys.isRoot, false));
  if (filter.owner !== undefined) conditions.push(eq(apiKeys.owner, filter.owner));
  if (filter.namePrefix !== undefined) {
    // substr and length count characters on both engines; LIKE would fold case on SQLite alone and need escaping.
    const prefix = filter.namePrefix;
    conditions.push(sql`substr(${apiKeys.name}, 1, ${[...prefix].length}) = ${prefix}`);
  }
  if (filter.enabled !== undefined) conditions.push(eq(apiKeys.enabled, filter.enabled));
  if (filter.revoked !== undefined) {
    conditions.push(filter.revoked ? isNotNull(apiKeys.revokedAtMs) : isNull(apiKeys.revokedAtMs));
  }
  if (filter.expired !== undefined) {
    const now = filter.nowMilliseconds;
    conditions.push(
      filter.expired ? lte(apiKeys.expiresAtMs, now) : or(isNull(apiKeys.expiresAtMs), gt(apiKeys.expiresAtMs, now))!,
    );
  }
  if (filter.createdFromMs !== undefined) conditions.push(gte(apiKeys.createdAtMs, filter.createdFromMs));
  if (filter.createdBeforeMs !== undefined) conditions.push(lt(apiKeys.createdAtMs, filter.createdBeforeMs));
  if (filter.beforeId !== undefined) conditions.push(lt(apiKeys.id, filter.beforeId));
  return db.drizzle
    .select()
    .from(apiKeys)
    .where(and(...conditions))
    .orderBy(desc(apiKeys.id))
    .limit(filter.limit + 1);
}

/** Guarded: only a live key changes, so a repeated revoke leaves the first revocation time in place. */
export async function markKeyRevoked(
  db: Executor,
  keyId: string,
  nowMilliseconds: number,
): Promise<ApiKeyRow | undefined> {
  const { apiKeys } = db.tables;
  return first(
    await db.drizzle
      .update(apiKeys)
      .set({ revokedAtMs: nowMilliseconds, updatedAtMs: nowMilliseconds })
      .where(and(eq(apiKeys.id, keyId), isNull(apiKeys.revokedAtMs)))
      .returning(),
  );
}

/** Revokes every live key of the project at once (its deletion); the root key is never one of them. */
export async function markProjectKeysRevoked(
  db: Executor,
  projectId: string,
  nowMilliseconds: number,
): Promise<Pick<ApiKeyRow, "id" | "name">[]> {
  const { apiKeys } = db.tables;
  return db.drizzle
    .update(apiKeys)
    .set({ revokedAtMs: nowMilliseconds, updatedAtMs: nowMilliseconds })
    .where(and(eq(apiKeys.projectId, projectId), isNull(apiKeys.revokedAtMs), eq(apiKeys.isRoot, false)))
    .returning({ id: apiKeys.id, name: apiKeys.name });
}

/** Revokes the live keys created through session tokens of any of `parentKeyIds`, and returns them. */
export async function markChildKeysRevoked(
  db: Executor,
  parentKeyIds: string[],
  nowMilliseconds: number,
): Promise<ApiKeyRow[]> {
  const { apiKeys } = db.tables;
  return db.drizzle
    .update(apiKeys)
    .set({ revokedAtMs: nowMilliseconds, updatedAtMs: nowMilliseconds })
    .where(and(inArray(apiKeys.parentKeyId, parentKeyIds), isNull(apiKeys.revokedAtMs)))
    .returning();
}

/** Secrets of the key that still work at `nowMilliseconds`. */
function liveSecretsOf(db: Executor, keyId: string, nowMilliseconds: number): SQL {
  const { keySecrets } = db.tables;
  return and(
    eq(keySecrets.keyId, keyId),
    or(isNull(keySecrets.retiresAtMs), gt(keySecrets.retiresAtMs, nowMilliseconds)),
  ) as SQL;
}

/**
 * Gives every secret of the key that still works a retirement time no later than `retiresAtMs`; a secret already
 * retiring sooner keeps its earlier time, so a second rotation never extends the first one's grace.
 */
export async function retireLiveSecrets(
  db: Executor,
  keyId: string,
  retiresAtMs: number,
  nowMilliseconds: number,
): Promise<void> {
  const { keySecrets } = db.tables;
  const retires = sql`CAST(${retiresAtMs} AS BIGINT)`;
  await db.drizzle
    .update(keySecrets)
    .set({
      // The earlier of the two (LEAST in PostgreSQL, min() in SQLite: CASE is both).
      retiresAtMs: sql`CASE WHEN ${keySecrets.retiresAtMs} IS NULL OR ${keySecrets.retiresAtMs} > ${retires}
        THEN ${retires} ELSE ${keySecrets.retiresAtMs} END`,
    })
    .where(liveSecretsOf(db, keyId, nowMilliseconds));
}

export async function addSecretAndHint(db: Executor, secret: KeySecretRow, hint: string): Promise<ApiKeyRow> {
  await db.drizzle.insert(db.tables.keySecrets).values(secret);
  const [updated] = await db.drizzle
    .update(db.tables.apiKeys)
    .set({ hint, updatedAtMs: secret.createdAtMs })
    .where(eq(db.tables.apiKeys.id, secret.keyId))
    .returning();
  return updated!;
}

/** Hashes of the key's secrets that still work at `nowMilliseconds` (more than one only during a rotation's grace). */
export async function listLiveSecretHashes(db: Executor, keyId: string, nowMilliseconds: number): Promise<string[]> {
  const rows = await db.drizzle
    .select({ hash: db.tables.keySecrets.hash })
    .from(db.tables.keySecrets)
    .where(liveSecretsOf(db, keyId, nowMilliseconds));
  return rows.map((row) => row.hash);
}

export type KeyChanges = Partial<
  Pick<
    ApiKeyRow,
    | "name"
    | "scopes"
    | "owner"
    | "expiresAtMs"
    | "ratelimitLimit"
    | "ratelimitWindowSeconds"
    | "enabled"
    | "meta"
    | "ipAllowlist"
  >
>;

export async function updateKey(
  db: Executor,
  keyId: string,
  changes: KeyChanges,
  nowMilliseconds: number,
): Promise<ApiKeyRow> {
  const [updated] = await db.drizzle
    .update(db.tables.apiKeys)
    .set({ ...changes, updatedAtMs: nowMilliseconds })
    .where(eq(db.tables.apiKeys.id, keyId))
    .returning();
  return updated!;
}
