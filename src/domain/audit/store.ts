/** Audit events in the database (either engine: see src/db/storage.ts). */
import { and, desc, eq, lt, type SQL } from "drizzle-orm";
import type { AuditEventRow } from "../../db/schema.ts";
import type { Executor } from "../../db/storage.ts";
import type { PageRequest } from "../../lib/pagination.ts";

export async function insertAuditEvent(db: Executor, row: AuditEventRow): Promise<void> {
  await db.drizzle.insert(db.tables.auditEvents).values(row);
}

export interface AuditEventFilter extends PageRequest {
  tenantId?: string;
  projectId?: string;
  action?: string;
}

/** Newest first, one more row than asked so the caller can tell whether another page exists. */
export async function listAuditEvents(db: Executor, filter: AuditEventFilter): Promise<AuditEventRow[]> {
  const { auditEvents } = db.tables;
  const conditions: SQL[] = [];
  if (filter.tenantId !== undefined) conditions.push(eq(auditEvents.tenantId, filter.tenantId));
  if (filter.projectId !== undefined) conditions.push(eq(auditEvents.projectId, filter.projectId));
  if (filter.action !== undefined) conditions.push(eq(auditEvents.action, filter.action));
  if (filter.beforeId !== undefined) conditions.push(lt(auditEvents.id, filter.beforeId));
  return db.drizzle
    .select()
    .from(auditEvents)
    .where(and(...conditions))
    .orderBy(desc(auditEvents.id))
    .limit(filter.limit + 1);
}
