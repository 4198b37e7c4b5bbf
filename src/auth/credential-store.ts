import { asc, eq, gt, lt, max, sql } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import type { Executor } from "../db/executor.ts";
import {
  type ApiKeyRow,
  apiKeys,
  type ChangeRow,
  changes,
  keySecrets,
  type ProjectRow,
  projects,
  type TenantRow,
  tenants,
} from "../db/schema.ts";

/** Everything a credential decision needs about one secret: its key, retirement, project and tenant. */
export interface KeyCredentialRecord {
  key: ApiKeyRow;
  secretHash: string;
  secretRetiresAtMs: number | null;
  project: ProjectRow;
  tenant: TenantRow;
}

export interface KeyWithSecrets {
  key: ApiKeyRow;
  secrets: { hash: string; retiresAtMs: number | null }[];
}

/**
 * The cold path of a verification (a key not yet in memory) runs these, so they are prepared once per database
 * rather than built and compiled by drizzle and SQLite on every call.
 */
function prepareColdPathQueries(db: Db) {
  return {
    keyIdBySecretHash: db
      .select({ keyId: keySecrets.keyId })
      .from(keySecrets)
      .where(eq(keySecrets.hash, sql.placeholder("hash")))
      .prepare(),
    keyById: db
      .select()
      .from(apiKeys)
      .where(eq(apiKeys.id, sql.placeholder("id")))
      .prepare(),
    secretsOfKey: db
      .select({ hash: keySecrets.hash, retiresAtMs: keySecrets.retiresAtMs })
      .from(keySecrets)
      .where(eq(keySecrets.keyId, sql.placeholder("id")))
      .prepare(),
    projectById: db
      .select()
      .from(projects)
      .where(eq(projects.id, sql.placeholder("id")))
      .prepare(),
    tenantById: db
      .select()
      .from(tenants)
      .where(eq(tenants.id, sql.placeholder("id")))
      .prepare(),
  };
}

export type ColdPathQueries = ReturnType<typeof prepareColdPathQueries>;

const preparedByDb = new WeakMap<Db, ColdPathQueries>();

export function coldPathQueries(db: Db): ColdPathQueries {
  let queries = preparedByDb.get(db);
  if (!queries) {
    queries = prepareColdPathQueries(db);
    preparedByDb.set(db, queries);
  }
  return queries;
}

export function findKeyIdBySecretHash(db: Db, secretHash: string): string | undefined {
  return coldPathQueries(db).keyIdBySecretHash.get({ hash: secretHash })?.keyId;
}

export function findKeyWithSecrets(db: Db, keyId: string): KeyWithSecrets | undefined {
  const queries = coldPathQueries(db);
  const key = queries.keyById.get({ id: keyId });
  if (!key) return undefined;
  return { key, secrets: queries.secretsOfKey.all({ id: keyId }) };
}

export function findProjectForCredential(db: Db, projectId: string): ProjectRow | undefined {
  return coldPathQueries(db).projectById.get({ id: projectId });
}

export function findTenantForCredential(db: Db, tenantId: string): TenantRow | undefined {
  return coldPathQueries(db).tenantById.get({ id: tenantId });
}

export function insertChange(
  executor: Executor,
  entity: ChangeRow["entity"],
  entityId: string,
  nowMilliseconds: number,
): void {
  executor.insert(changes).values({ entity, entityId, changedAtMs: nowMilliseconds }).run();
}

export function listChangesAfter(executor: Executor, afterSeq: number, limit: number): ChangeRow[] {
  return executor.select().from(changes).where(gt(changes.seq, afterSeq)).orderBy(asc(changes.seq)).limit(limit).all();
}

export function latestChangeSeq(executor: Executor): number {
  return (
    executor
      .select({ seq: max(changes.seq) })
      .from(changes)
      .get()?.seq ?? 0
  );
}

export function pruneChangesBefore(executor: Executor, beforeMilliseconds: number): number {
  const result = executor.delete(changes).where(lt(changes.changedAtMs, beforeMilliseconds)).run();
  return (result as { changes: number }).changes;
}

/** Adds batched usage to keys: the latest use wins, counts add up. */
export function addKeyUsage(executor: Executor, keyId: string, lastUsedAtMs: number, requests: number): void {
  executor
    .update(apiKeys)
    .set({
      lastUsedAtMs: sql`max(coalesce(${apiKeys.lastUsedAtMs}, 0), ${lastUsedAtMs})`,
      usageCount: sql`${apiKeys.usageCount} + ${requests}`,
    })
    .where(eq(apiKeys.id, keyId))
    .run();
}
