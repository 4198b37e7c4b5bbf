/**
 * The cold path of a credential decision (a key not yet in memory) and the writes verification causes (usage, in
 * batches). Lookups are by primary key or unique index, on either engine.
 */
import { eq, sql } from "drizzle-orm";
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

export async function findKeyWithSecrets(db: Executor, keyId: string): Promise<KeyWithSecrets | undefined> {
  const { apiKeys, keySecrets } = db.tables;
  const key = first(await db.drizzle.select().from(apiKeys).where(eq(apiKeys.id, keyId)).limit(1));
  if (key?.id !== keyId) return undefined;
  const secrets = await db.drizzle
    .select({ keyId: keySecrets.keyId, hash: keySecrets.hash, retiresAtMs: keySecrets.retiresAtMs })
    .from(keySecrets)
    .where(eq(keySecrets.keyId, keyId));
  return {
    key,
    secrets: secrets
      .filter((secret) => secret.keyId === keyId)
      .map((secret) => ({ hash: secret.hash, retiresAtMs: secret.retiresAtMs })),
  };
}

export async function findProjectForCredential(db: Executor, projectId: string): Promise<ProjectRow | undefined> {
  const project = first(
    await db.drizzle.select().from(db.tables.projects).where(eq(db.tables.projects.id, projectId)).limit(1),
  );
  return project?.id === projectId ? project : undefined;
}

export async function findTenantForCredential(db: Executor, tenantId: string): Promise<TenantRow | undefined> {
  const tenant = first(
    await db.drizzle.select().from(db.tables.tenants).where(eq(db.tables.tenants.id, tenantId)).limit(1),
  );
  return tenant?.id === tenantId ? tenant : undefined;
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
