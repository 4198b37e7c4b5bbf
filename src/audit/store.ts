import { and, desc, eq, lt, type SQL } from "drizzle-orm";
import type { Executor } from "../db/executor.ts";
import { type AuditEventRow, auditEvents } from "../db/schema.ts";
import type { PageRequest } from "../lib/pagination.ts";

export function insertAuditEvent(executor: Executor, row: AuditEventRow): void {
  executor.insert(auditEvents).values(row).run();
}

export interface AuditEventFilter extends PageRequest {
  tenantId?: string;
  projectId?: string;
  action?: string;
}

/** Newest first, one more row than asked so the caller can tell whether another page exists. */
export function listAuditEvents(executor: Executor, filter: AuditEventFilter): AuditEventRow[] {
  const conditions: SQL[] = [];
  if (filter.tenantId !== undefined) conditions.push(eq(auditEvents.tenantId, filter.tenantId));
  if (filter.projectId !== undefined) conditions.push(eq(auditEvents.projectId, filter.projectId));
  if (filter.action !== undefined) conditions.push(eq(auditEvents.action, filter.action));
  if (filter.beforeId !== undefined) conditions.push(lt(auditEvents.id, filter.beforeId));
  return executor
    .select()
    .from(auditEvents)
    .where(and(...conditions))
    .orderBy(desc(auditEvents.id))
    .limit(filter.limit + 1)
    .all();
}
