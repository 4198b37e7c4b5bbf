/** Tenants and projects in the database (either engine: see src/db/storage.ts). */
import { and, desc, eq, lt, type SQL } from "drizzle-orm";
import type { ProjectRow, TenantRow } from "../db/schema.ts";
import { type Executor, first } from "../db/storage.ts";
import type { PageRequest } from "../lib/pagination.ts";

export async function insertTenant(x: Executor, row: TenantRow): Promise<void> {
  await x.q.insert(x.t.tenants).values(row);
}

export async function findTenant(x: Executor, tenantId: string): Promise<TenantRow | undefined> {
  return first(await x.q.select().from(x.t.tenants).where(eq(x.t.tenants.id, tenantId)).limit(1));
}

export async function findDefaultTenant(x: Executor): Promise<TenantRow | undefined> {
  return first(await x.q.select().from(x.t.tenants).where(eq(x.t.tenants.isDefault, true)).limit(1));
}

/** Newest first, one more row than asked so the caller can tell whether another page exists. */
export async function listTenants(x: Executor, page: PageRequest): Promise<TenantRow[]> {
  const { tenants } = x.t;
  return x.q
    .select()
    .from(tenants)
    .where(page.beforeId === undefined ? undefined : lt(tenants.id, page.beforeId))
    .orderBy(desc(tenants.id))
    .limit(page.limit + 1);
}

export type TenantChanges = Partial<Pick<TenantRow, "name" | "status" | "subscription" | "modules">>;

export async function updateTenant(
  x: Executor,
  tenantId: string,
  changes: TenantChanges,
  nowMilliseconds: number,
): Promise<TenantRow | undefined> {
  return first(
    await x.q
      .update(x.t.tenants)
      .set({ ...changes, updatedAtMs: nowMilliseconds })
      .where(eq(x.t.tenants.id, tenantId))
      .returning(),
  );
}

export async function insertProject(x: Executor, row: ProjectRow): Promise<void> {
  await x.q.insert(x.t.projects).values(row);
}

export async function findProject(x: Executor, projectId: string): Promise<ProjectRow | undefined> {
  return first(await x.q.select().from(x.t.projects).where(eq(x.t.projects.id, projectId)).limit(1));
}

export async function findDefaultProject(x: Executor): Promise<ProjectRow | undefined> {
  return first(await x.q.select().from(x.t.projects).where(eq(x.t.projects.isDefault, true)).limit(1));
}

export async function listProjects(x: Executor, page: PageRequest & { tenantId?: string }): Promise<ProjectRow[]> {
  const { projects } = x.t;
  const conditions: SQL[] = [];
  if (page.tenantId !== undefined) conditions.push(eq(projects.tenantId, page.tenantId));
  if (page.beforeId !== undefined) conditions.push(lt(projects.id, page.beforeId));
  return x.q
    .select()
    .from(projects)
    .where(and(...conditions))
    .orderBy(desc(projects.id))
    .limit(page.limit + 1);
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

export async function updateProject(
  x: Executor,
  projectId: string,
  changes: ProjectChanges,
  nowMilliseconds: number,
): Promise<ProjectRow | undefined> {
  return first(
    await x.q
      .update(x.t.projects)
      .set({ ...changes, updatedAtMs: nowMilliseconds })
      .where(eq(x.t.projects.id, projectId))
      .returning(),
  );
}

/** Each project's allowed origins, for answering CORS preflights from memory. */
export async function listAllowedOriginsByProject(x: Executor): Promise<[string, string[]][]> {
  const { projects } = x.t;
  const rows = await x.q.select({ id: projects.id, origins: projects.allowedOrigins }).from(projects);
  return rows.map((row) => [row.id, row.origins]);
}
