import { and, desc, eq, lt, type SQL, sql } from "drizzle-orm";
import type { Executor } from "../db/executor.ts";
import { type ProjectRow, projects, type TenantRow, tenants } from "../db/schema.ts";
import type { PageRequest } from "../lib/pagination.ts";

export function insertTenant(executor: Executor, row: TenantRow): void {
  executor.insert(tenants).values(row).run();
}

export function findTenant(executor: Executor, tenantId: string): TenantRow | undefined {
  return executor.select().from(tenants).where(eq(tenants.id, tenantId)).get();
}

export function findDefaultTenant(executor: Executor): TenantRow | undefined {
  return executor.select().from(tenants).where(eq(tenants.isDefault, true)).get();
}

/** Newest first, one more row than asked so the caller can tell whether another page exists. */
export function listTenants(executor: Executor, page: PageRequest): TenantRow[] {
  return executor
    .select()
    .from(tenants)
    .where(page.beforeId === undefined ? undefined : lt(tenants.id, page.beforeId))
    .orderBy(desc(tenants.id))
    .limit(page.limit + 1)
    .all();
}

export type TenantChanges = Partial<Pick<TenantRow, "name" | "status" | "subscription" | "modules">>;

export function updateTenant(
  executor: Executor,
  tenantId: string,
  changes: TenantChanges,
  nowMilliseconds: number,
): TenantRow | undefined {
  return executor
    .update(tenants)
    .set({ ...changes, updatedAtMs: nowMilliseconds })
    .where(eq(tenants.id, tenantId))
    .returning()
    .get();
}

export function insertProject(executor: Executor, row: ProjectRow): void {
  executor.insert(projects).values(row).run();
}

export function findProject(executor: Executor, projectId: string): ProjectRow | undefined {
  return executor.select().from(projects).where(eq(projects.id, projectId)).get();
}

export function findDefaultProject(executor: Executor): ProjectRow | undefined {
  return executor.select().from(projects).where(eq(projects.isDefault, true)).get();
}

export function listProjects(executor: Executor, page: PageRequest & { tenantId?: string }): ProjectRow[] {
  const conditions: SQL[] = [];
  if (page.tenantId !== undefined) conditions.push(eq(projects.tenantId, page.tenantId));
  if (page.beforeId !== undefined) conditions.push(lt(projects.id, page.beforeId));
  return executor
    .select()
    .from(projects)
    .where(and(...conditions))
    .orderBy(desc(projects.id))
    .limit(page.limit + 1)
    .all();
}

export type ProjectChanges = Partial<
  Pick<
    ProjectRow,
    | "name"
    | "keyPrefix"
    | "allowedOrigins"
    | "verificationUrl"
    | "callbackHosts"
    | "ratelimitLimit"
    | "ratelimitWindowSeconds"
    | "sessionTtlSeconds"
    | "cliSessionTtlSeconds"
    | "cliKeyTtlSeconds"
    | "cliPollIntervalSeconds"
    | "cliDefaultScopes"
    | "cliLoopbackHttp"
  >
>;

export function updateProject(
  executor: Executor,
  projectId: string,
  changes: ProjectChanges,
  nowMilliseconds: number,
): ProjectRow | undefined {
  return executor
    .update(projects)
    .set({ ...changes, updatedAtMs: nowMilliseconds })
    .where(eq(projects.id, projectId))
    .returning()
    .get();
}

/** Every origin some project allows, for answering CORS preflights. */
export function listAllowedOriginsOfAllProjects(executor: Executor): string[] {
  const rows = executor.all<{ origin: string }>(
    sql`SELECT DISTINCT json_each.value AS origin FROM ${projects}, json_each(${projects.allowedOrigins})`,
  );
  return rows.map((row) => row.origin);
}
