/** Tenants and projects in the database (either engine: see src/db/storage.ts). */
import { and, desc, eq, isNull, lt, type SQL } from "drizzle-orm";
import type { ProjectRow, TenantRow } from "../../db/schema.ts";
import { type Executor, first } from "../../db/storage.ts";
import type { PageRequest } from "../../lib/pagination.ts";

export async function insertTenant(x: Executor, row: TenantRow): Promise<void> {
  await x.q.insert(x.t.tenants).values(row);
}

export async function findTenant(x: Executor, tenantId: string): Promise<TenantRow | undefined> {
  return first(await x.q.select().from(x.t.tenants).where(eq(x.t.tenants.id, tenantId)).limit(1));
}

export async function findDefaultTenant(x: Executor): Promise<TenantRow | undefined> {
  return first(await x.q.select().from(x.t.tenants).where(eq(x.t.tenants.isDefault, true)).limit(1));
}

/** Which records a list shows: deleted ones only when asked for. */
export interface ListFilter extends PageRequest {
  includeDeleted?: boolean;
}

/** Newest first, one more row than asked so the caller can tell whether another page exists. */
export async function listTenants(x: Executor, page: ListFilter): Promise<TenantRow[]> {
  const { tenants } = x.t;
  const conditions: SQL[] = [];
  if (!page.includeDeleted) conditions.push(isNull(tenants.deletedAtMs));
  if (page.beforeId !== undefined) conditions.push(lt(tenants.id, page.beforeId));
  return x.q
    .select()
    .from(tenants)
    .where(and(...conditions))
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

/** Guarded: only a live tenant is marked, so a repeated delete keeps the first deletion time. */
export async function markTenantDeleted(
  x: Executor,
  tenantId: string,
  nowMilliseconds: number,
): Promise<TenantRow | undefined> {
  const { tenants } = x.t;
  return first(
    await x.q
      .update(tenants)
      .set({ deletedAtMs: nowMilliseconds, updatedAtMs: nowMilliseconds })
      .where(and(eq(tenants.id, tenantId), isNull(tenants.deletedAtMs)))
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

export async function listProjects(x: Executor, page: ListFilter & { tenantId?: string }): Promise<ProjectRow[]> {
  const { projects } = x.t;
  const conditions: SQL[] = [];
  if (!page.includeDeleted) conditions.push(isNull(projects.deletedAtMs));
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

/** Guarded like markTenantDeleted. */
export async function markProjectDeleted(
  x: Executor,
  projectId: string,
  nowMilliseconds: number,
): Promise<ProjectRow | undefined> {
  const { projects } = x.t;
  return first(
    await x.q
      .update(projects)
      .set({ deletedAtMs: nowMilliseconds, updatedAtMs: nowMilliseconds })
      .where(and(eq(projects.id, projectId), isNull(projects.deletedAtMs)))
      .returning(),
  );
}

/** The tenant's projects not yet deleted, whatever their number (a tenant's deletion takes them all). */
export async function listLiveProjectsOfTenant(x: Executor, tenantId: string): Promise<ProjectRow[]> {
  const { projects } = x.t;
  return x.q
    .select()
    .from(projects)
    .where(and(eq(projects.tenantId, tenantId), isNull(projects.deletedAtMs)));
}

/** Each live project's allowed origins, for answering CORS preflights from memory. */
export async function listAllowedOriginsByProject(x: Executor): Promise<[string, string[]][]> {
  const { projects } = x.t;
  const rows = await x.q
    .select({ id: projects.id, origins: projects.allowedOrigins })
    .from(projects)
    .where(isNull(projects.deletedAtMs));
  return rows.map((row) => [row.id, row.origins]);
}
