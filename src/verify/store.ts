import { eq } from "drizzle-orm";
import type { Executor } from "../db/executor.ts";
import { type ApiKeyRow, apiKeys, keySecrets, type ProjectRow, projects, type TenantRow, tenants } from "../db/schema.ts";

/** Everything a credential decision needs, read in one indexed lookup by the secret's hash. */
export interface KeyCredentialRecord {
  key: ApiKeyRow;
  secretHash: string;
  secretRetiresAtMs: number | null;
  project: ProjectRow;
  tenant: TenantRow;
}

function selectKeyCredentials(executor: Executor) {
  return executor
    .select({
      key: apiKeys,
      secretHash: keySecrets.hash,
      secretRetiresAtMs: keySecrets.retiresAtMs,
      project: projects,
      tenant: tenants,
    })
    .from(keySecrets)
    .innerJoin(apiKeys, eq(apiKeys.id, keySecrets.keyId))
    .innerJoin(projects, eq(projects.id, apiKeys.projectId))
    .innerJoin(tenants, eq(tenants.id, projects.tenantId));
}

export function findKeyCredentialBySecretHash(executor: Executor, secretHash: string): KeyCredentialRecord | undefined {
  return selectKeyCredentials(executor).where(eq(keySecrets.hash, secretHash)).get();
}

/** One record per secret the key has had (several only around rotations). */
export function findKeyCredentialsByKeyId(executor: Executor, keyId: string): KeyCredentialRecord[] {
  return selectKeyCredentials(executor).where(eq(keySecrets.keyId, keyId)).all();
}
