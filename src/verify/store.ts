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

export function findKeyCredentialBySecretHash(executor: Executor, secretHash: string): KeyCredentialRecord | undefined {
  const row = executor
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
    .innerJoin(tenants, eq(tenants.id, projects.tenantId))
    .where(eq(keySecrets.hash, secretHash))
    .get();
  return row;
}
