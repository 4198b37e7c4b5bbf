/**
 * The cold path of a credential decision (a key not yet in memory) and the writes verification causes (usage, in
 * batches). Lookups are by primary key or unique index, on either engine.
 */
import { eq, inArray, sql } from "drizzle-orm";
import type { ApiKeyRow, ProjectRow, TenantRow } from "../db/schema.ts";
import { type Executor, first } from "../db/storage.ts";

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

/*
 * Defence in depth: each lookup checks that the row it got is the one it asked for (the same hash, the same id). A
 * driver that ever handed back another query's rows must not turn them into another key's "allowed".
 */

/** A key with all its secrets, its project and its tenant: what one cold credential decision reads. */
export interface CredentialRows {
  key: KeyWithSecrets;
  project: ProjectRow;
  tenant: TenantRow;
}

/**
 * The rows of the key that has a secret with this hash (or of the key with this id), in one round trip: one joined
 * query, a row per secret of the key, each carrying the key, project and tenant. A credential decision on a key not
 * yet in memory is then one query, not one per table.
 */
export async function findCredentialRows(
  db: Executor,
  by: { secretHash: string } | { keyId: string },
): Promise<CredentialRows | undefined> {
  const rows =
    "keyId" in by
      ? await preparedLookups(db).byKeyId.execute({ keyId: by.keyId })
      : await preparedLookups(db).bySecretHash.execute({ secretHash: by.secretHash });
  const head = rows[0];
  if (head === undefined) return undefined;
  const keyId = head.key.id;
  const matching = rows.filter(
    (row) => row.key.id === keyId && row.secret.keyId === keyId && row.project.id === head.key.projectId,
  );
  if ("keyId" in by ? keyId !== by.keyId : !matching.some((row) => row.secret.hash === by.secretHash)) return undefined;
  if (head.tenant.id !== head.project.tenantId) return undefined;
  return {
    key: {
      key: head.key,
      secrets: matching.map(({ secret }) => ({ hash: secret.hash, retiresAtMs: secret.retiresAtMs })),
    },
    project: head.project,
    tenant: head.tenant,
  };
}

/**
 * The joined lookups, prepared once per executor: PostgreSQL then plans the four-table join once per connection
 * rather than on every cold decision (planning it each time cost more than the separate primary-key reads it joins).
 */
const prepared = new WeakMap<Executor, ReturnType<typeof prepareLookups>>();

function preparedLookups(db: Executor) {
  let lookups = prepared.get(db);
  if (lookups === undefined) {
    lookups = prepareLookups(db);
    prepared.set(db, lookups);
  }
  return lookups;
}

function prepareLookups(db: Executor) {
  const { apiKeys, keySecrets, projects, tenants } = db.tables;
  const joined = () =>
    db.drizzle
      .select({
        key: apiKeys,
        secret: { keyId: keySecrets.keyId, hash: keySecrets.hash, retiresAtMs: keySecrets.retiresAtMs },
        project: projects,
        tenant: tenants,
      })
      .from(keySecrets)
      .innerJoin(apiKeys, eq(apiKeys.id, keySecrets.keyId))
      .innerJoin(projects, eq(projects.id, apiKeys.projectId))
      .innerJoin(tenants, eq(tenants.id, projects.tenantId));
  const ofHash = db.drizzle
    .select({ keyId: keySecrets.keyId })
    .from(keySecrets)
    .where(eq(keySecrets.hash, sql.placeholder("secretHash")));
  return {
    bySecretHash: joined().where(inArray(keySecrets.keyId, ofHash)).prepare("latchkey_credential_by_secret_hash"),
    byKeyId: joined()
      .where(eq(keySecrets.keyId, sql.placeholder("keyId")))
      .prepare("latchkey_credential_by_key_id"),
  };
}

export async function findProjectForCredential(db: Executor, projectId: string): Promise<ProjectRow | undefined> {
  const project = first(
    await db.drizzle.select().from(db.tables.projects).where(eq(db.tables.projects.id, projectId)).limit(1),
  );
  return project?.id === projectId ? project : undefined;
}

/** Adds batched usage to a key: the latest use wins, counts add up. */
export async function addKeyUsage(db: Executor, keyId: string, lastUsedAtMs: number, requests: number): Promise<void> {
  const { apiKeys } = db.tables;
  const used = sql`CAST(${lastUsedAtMs} AS BIGINT)`;
  await db.drizzle
    .update(apiKeys)
    .set({
      lastUsedAtMs: sql`CASE WHEN ${apiKeys.lastUsedAtMs} IS NULL OR ${apiKeys.lastUsedAtMs} < ${used}
        THEN ${used} ELSE ${apiKeys.lastUsedAtMs} END`,
      usageCount: sql`${apiKeys.usageCount} + ${requests}`,
    })
    .where(eq(apiKeys.id, keyId));
}
