/**
 * The audit trail: an append-only record of every change to tenants, projects and keys — who (the acting key, or
 * the system at start-up), what (action and target), when, and from where (IP, user agent, request id). Events are
 * written in the same transaction as the change they describe, so the trail never disagrees with the data.
 * Details never hold secrets: only names, scopes, times and the fields that changed.
 */
import type { Executor } from "../db/executor.ts";
import type { AuditEventRow } from "../db/schema.ts";
import { newId } from "../lib/ids.ts";
import { type Page, pageOf } from "../lib/pagination.ts";
import { type AuditEventFilter, insertAuditEvent, listAuditEvents } from "./store.ts";

export type AuditAction =
  | "tenant.created"
  | "tenant.updated"
  | "project.created"
  | "project.updated"
  | "key.created"
  | "key.revoked"
  | "key.rotated"
  | "key.updated"
  | "signing_key.created"
  | "signing_key.rotated"
  | "cli_session.created"
  | "cli_session.approved"
  | "cli_session.denied"
  | "cli_session.delivered"
  | "cli_session.expired";

export const AUDIT_ACTIONS: readonly AuditAction[] = [
  "tenant.created",
  "tenant.updated",
  "project.created",
  "project.updated",
  "key.created",
  "key.revoked",
  "key.rotated",
  "key.updated",
  "signing_key.created",
  "signing_key.rotated",
  "cli_session.created",
  "cli_session.approved",
  "cli_session.denied",
  "cli_session.delivered",
  "cli_session.expired",
];

/** Who did it and from where; built at the HTTP edge from the authenticated credential and the request. */
export interface AuditActor {
  type: "api_key" | "root_key" | "session" | "anonymous" | "system";
  id: string | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
}

export const SYSTEM_ACTOR: AuditActor = { type: "system", id: null, ip: null, userAgent: null, requestId: null };

export interface AuditEntry {
  action: AuditAction;
  target: { type: "tenant" | "project" | "api_key" | "signing_key" | "cli_session"; id: string };
  tenantId: string | null;
  projectId: string | null;
  details: Record<string, unknown>;
}

export function recordAuditEvent(
  executor: Executor,
  actor: AuditActor,
  entry: AuditEntry,
  nowMilliseconds: number,
): void {
  insertAuditEvent(executor, {
    id: newId("auditEvent", nowMilliseconds),
    occurredAtMs: nowMilliseconds,
    action: entry.action,
    actorType: actor.type,
    actorId: actor.id,
    tenantId: entry.tenantId,
    projectId: entry.projectId,
    targetType: entry.target.type,
    targetId: entry.target.id,
    ip: actor.ip,
    userAgent: actor.userAgent,
    requestId: actor.requestId,
    details: entry.details,
  });
}

export function readAuditEvents(executor: Executor, filter: AuditEventFilter): Page<AuditEventRow> {
  return pageOf(listAuditEvents(executor, filter), filter.limit);
}
