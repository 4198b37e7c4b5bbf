import { and, desc, eq, gt, isNull, lt, or, type SQL, sql } from "drizzle-orm";
import type { Executor } from "../db/executor.ts";
import { type ApiKeyRow, apiKeys, type KeySecretRow, keySecrets, projects } from "../db/schema.ts";
import type { PageRequest } from "../lib/pagination.ts";

export function insertKey(executor: Executor, key: ApiKeyRow, secret: KeySecretRow): void {
  executor.insert(apiKeys).values(key).run();
  executor.insert(keySecrets).values(secret).run();
}

export function findKey(executor: Executor, keyId: string): ApiKeyRow | undefined {
  return executor.select().from(apiKeys).where(eq(apiKeys.id, keyId)).get();
}

/** What a key needs of its project: the tenant it belongs to and the prefix its secrets take. */
export function findKeyProject(
  executor: Executor,
  projectId: string,
): { id: string; tenantId: string; keyPrefix: string } | undefined {
  return executor
    .select({ id: projects.id, tenantId: projects.tenantId, keyPrefix: projects.keyPrefix })
    .from(projects)
    .where(eq(projects.id, projectId))
    .get();
}

export function findRootKey(executor: Executor): ApiKeyRow | undefined {
  return executor.select().from(apiKeys).where(eq(apiKeys.isRoot, true)).get();
}

export interface KeyListFilter extends PageRequest {
  projectId: string;
  owner?: string;
  includeRoot: boolean;
}

/** Newest first, one more row than asked so the caller can tell whether another page exists. */
export function listKeys(executor: Executor, filter: KeyListFilter): ApiKeyRow[] {
  const conditions: SQL[] = [eq(apiKeys.projectId, filter.projectId)];
  if (!filter.includeRoot) conditions.push(eq(apiKeys.isRoot, false));
  if (filter.owner !== undefined) conditions.push(eq(apiKeys.owner, filter.owner));
  if (filter.beforeId !== undefined) conditions.push(lt(apiKeys.id, filter.beforeId));
  return executor
    .select()
    .from(apiKeys)
    .where(and(...conditions))
    .orderBy(desc(apiKeys.id))
    .limit(filter.limit + 1)
    .all();
}

/** Guarded: only a live key changes, so a repeated revoke leaves the first revocation time in place. */
export function markKeyRevoked(executor: Executor, keyId: string, nowMilliseconds: number): ApiKeyRow | undefined {
  return executor
    .update(apiKeys)
    .set({ revokedAtMs: nowMilliseconds, updatedAtMs: nowMilliseconds })
    .where(and(eq(apiKeys.id, keyId), isNull(apiKeys.revokedAtMs)))
    .returning()
    .get();
}

/**
 * Gives every secret of the key that still works a retirement time no later than `retiresAtMs`; a secret already
 * retiring sooner keeps its earlier time, so a second rotation never extends the first one's grace.
 */
export function retireLiveSecrets(
  executor: Executor,
  keyId: string,
  retiresAtMs: number,
  nowMilliseconds: number,
): void {
  executor
    .update(keySecrets)
    .set({ retiresAtMs: sql`min(coalesce(${keySecrets.retiresAtMs}, ${retiresAtMs}), ${retiresAtMs})` })
    .where(
      and(eq(keySecrets.keyId, keyId), or(isNull(keySecrets.retiresAtMs), gt(keySecrets.retiresAtMs, nowMilliseconds))),
    )
    .run();
}

export function addSecretAndHint(executor: Executor, secret: KeySecretRow, hint: string): ApiKeyRow {
  executor.insert(keySecrets).values(secret).run();
  return executor
    .update(apiKeys)
    .set({ hint, updatedAtMs: secret.createdAtMs })
    .where(eq(apiKeys.id, secret.keyId))
    .returning()
    .get()!;
}

/** Hashes of the key's secrets that still work at `nowMilliseconds` (more than one only during a rotation's grace). */
export function listLiveSecretHashes(executor: Executor, keyId: string, nowMilliseconds: number): string[] {
  return executor
    .select({ hash: keySecrets.hash })
    .from(keySecrets)
    .where(
      and(eq(keySecrets.keyId, keyId), or(isNull(keySecrets.retiresAtMs), gt(keySecrets.retiresAtMs, nowMilliseconds))),
    )
    .all()
    .map((row) => row.hash);
}

export type KeyChanges = Partial<Pick<ApiKeyRow, "name" | "ratelimitLimit" | "ratelimitWindowSeconds">>;

export function updateKey(executor: Executor, keyId: string, changes: KeyChanges, nowMilliseconds: number): ApiKeyRow {
  return executor
    .update(apiKeys)
    .set({ ...changes, updatedAtMs: nowMilliseconds })
    .where(eq(apiKeys.id, keyId))
    .returning()
    .get()!;
}
