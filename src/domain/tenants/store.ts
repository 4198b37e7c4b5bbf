/** Tenants and projects in the database (either engine: see src/db/storage.ts). */
import { and, desc, eq, isNull, lt, type SQL } from "drizzle-orm";
import type { ProjectRow, TenantRow } from "../../db/schema.ts";
import { type Executor, first } from "../../db/storage.ts";
import type { PageRequest } from "../../lib/pagination.ts";

export async function insertTenant(db: Executor, row: TenantRow): Promise<void> {
  await db.drizzle.insert(db.tables.tenants).values(row);
}

export async function findTenant(db: Executor, tenantId: string): Promise<TenantRow | undefined> {
  return first(await db.drizzle.select().from(db.tables.tenants).where(eq(db.tables.tenants.id, tenantId)).limit(1));
}

export async function findDefaultTenant(db: Executor): Promise<TenantRow | undefined> {
  return first(await db.drizzle.select().from(db.tables.tenants).where(eq(db.tables.tenants.isDefault, true)).limit(1));
}

/** Which records a list shows: deleted ones only when asked for. */
export interface ListFilter extends PageRequest {
  includeDeleted?: boolean;
}

/** Newest first, one more row than asked so the caller can tell whether another page exists. */
export async function listTenants(db: Executor, page: ListFilter): Promise<TenantRow[]> {
  const { tenants } = db.tables;
  const conditions: SQL[] = [];
  if (!page.includeDeleted) conditions.push(isNull(tenants.deletedAtMs));
  if (page.beforeId !== undefined) conditions.push(lt(tenants.id, page.beforeId));
  return db.drizzle
    .select()
    .from(tenants)
    .where(and(...conditions))
    .orderBy(desc(tenants.id))
    .limit(page.limit + 1);
}

export type TenantChanges = Partial<Pick<TenantRow, "name" | "status" | "subscription" | "modules">>;

export async function updateTenant(
  db: Executor,
  tenantId: string,
  changes: TenantChanges,
  nowMilliseconds: number,
): Promise<TenantRow | undefined> {
  return first(
    await db.drizzle
      .update(db.tables.tenants)
      .set({ ...changes, updatedAtMs: nowMilliseconds })
      .where(eq(db.tables.tenants.id, tenantId))
      .returning(),
  );
}

/** Guarded: only a live tenant is marked, so a repeated delete keeps the first deletion time. */
export async function markTenantDeleted(
  db: Executor,
  tenantId: string,
  nowMilliseconds: number,
): Promise<TenantRow | undefined> {
  const { tenants } = db.tables;
  return first(
    await db.drizzle
      .update(tenants)
      .set({ deletedAtMs: nowMilliseconds, updatedAtMs: nowMilliseconds })
      .where(and(eq(tenants.id, tenantId), isNull(tenants.deletedAtMs)))
      .returning(),
  );
}

export async function insertProject(db: Executor, row: ProjectRow): Promise<void> {
  await db.drizzle.insert(db.tables.projects).values(row);
}

export async function findProject(db: Executor, projectId: string): Promise<ProjectRow | undefined> {
  return first(await db.drizzle.select().from(db.tables.projects).where(eq(db.tables.projects.id, projectId)).limit(1));
}

export async function findDefaultProject(db: Executor): Promise<ProjectRow | undefined> {
  return first(
    await db.drizzle.select().from(db.tables.projects).where(eq(db.tables.projects.isDefault, true)).limit(1),
  );
}

export async function listProjects(db: Executor, page: ListFilter & { tenantId?: string }): Promise<ProjectRow[]> {
  const { projects } = db.tables;
  const conditions: SQL[] = [];
  if (!page.includeDeleted) conditions.push(isNull(projects.deletedAtMs));
  if (page.tenantId !== undefined) conditions.push(eq(projects.tenantId, page.tenantId));
  if (page.beforeId !== undefined) conditions.push(lt(projects.id, page.beforeId));
  return db.drizzle
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
  db: Executor,
  projectId: string,
  changes: ProjectChanges,
  nowMilliseconds: number,
): Promise<ProjectRow | undefined> {
  return first(
    await db.drizzle
      .update(db.tables.projects)
      .set({ ...changes, updatedAtMs: nowMilliseconds })
      .where(eq(db.tables.projects.id, projectId))
      .returning(),
  );
}

/** Guarded like markTenantDeleted. */
export async function markProjectDeleted(
  db: Executor,
  projectId: string,
  nowMilliseconds: number,
): Promise<ProjectRow | undefined> {
  const { projects } = db.tables;
  return first(
    await db.drizzle
      .update(projects)
      .set({ deletedAtMs: nowMilliseconds, updatedAtMs: nowMilliseconds })
      .where(and(eq(projects.id, projectId), isNull(projects.deletedAtMs)))
      .returning(),
  );
}

/** The tenant's projects not yet deleted, whatever their number (a tenant's deletion takes them all). */
export async function listLiveProjectsOfTenant(db: Executor, tenantId: string): Promise<ProjectRow[]> {
  const { projects } = db.tables;
  return db.drizzle
    .select()
    .from(projects)
    .where(and(eq(projects.tenantId, tenantId), isNull(projects.deletedAtMs)));
}

/** Each live project's allowed origins, for answering CORS preflights from memory. */
export async function listAllowedOriginsByProject(db: Executor): Promise<[string, string[]][]> {
  const { projects } = db.tables;
  const rows = await db.drizzle
    .select({ id: projects.id, origins: projects.allowedOrigins })
    .from(projects)
    .where(isNull(projects.deletedAtMs));
  return rows.map((row) => [row.id, row.origins]);
}
