/**
 * The audit trail: an append-only record of every change to tenants, projects and keys — who (the acting key, or
 * the system at start-up), what (action and target), when, and from where (IP, user agent, request id). Events are
 * written in the same transaction as the change they describe, so the trail never disagrees with the data.
 * Details never hold secrets: only names, scopes, times and the fields that changed.
 */

import type { AuditEventRow } from "../../db/schema.ts";
import type { Executor } from "../../db/storage.ts";
import { newId } from "../../lib/ids.ts";
import { type Page, pageOf } from "../../lib/pagination.ts";
import { type AuditEventFilter, insertAuditEvent, listAuditEvents } from "./store.ts";

export const AUDIT_ACTIONS = [
  "tenant.created",
  "tenant.updated",
  "tenant.deleted",
  "project.created",
  "project.updated",
  "project.deleted",
  "key.created",
  "key.revoked",
  "key.rotated",
  "key.updated",
  "signing_key.created",
  "signing_key.rotated",
  "signing_key.resealed",
  "cli_session.created",
  "cli_session.approved",
  "cli_session.denied",
  "cli_session.delivered",
  "cli_session.expired",
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** Where a request came from: the one shape every layer passes along and every change records. */
export interface RequestContext {
  requestId: string | null;
  ip: string | null;
  userAgent: string | null;
}

/** Who did it (the credential, or nobody) and from where. */
export interface AuditActor extends RequestContext {
  type: "api_key" | "root_key" | "session" | "anonymous" | "system";
  id: string | null;
}

/** The credential a change is attributed to: a key, or a session token (acting for an end user of a key). */
export interface Acting {
  kind: "api_key" | "session";
  isRoot: boolean;
  keyId: string;
  subject: string;
}

/** The one way an acting credential is named in the trail: a key's id, or a session's `<parent key>/<end user>`. */
export function actorIdOf(acting: Acting): string {
  return acting.kind === "session" ? `${acting.keyId}/${acting.subject}` : acting.keyId;
}

/** The actor of a request: its credential (null: an unauthenticated request) and where it came from. */
export function auditActorOf(acting: Acting | null, context: RequestContext): AuditActor {
  if (acting === null) return { type: "anonymous", id: null, ...context };
  if (acting.kind === "session") return { type: "session", id: actorIdOf(acting), ...context };
  return { type: acting.isRoot ? "root_key" : "api_key", id: actorIdOf(acting), ...context };
}

export const SYSTEM_ACTOR: AuditActor = { type: "system", id: null, ip: null, userAgent: null, requestId: null };

export interface AuditEntry {
  action: AuditAction;
  target: { type: "tenant" | "project" | "api_key" | "signing_key" | "cli_session"; id: string };
  tenantId: string | null;
  projectId: string | null;
  details: Record<string, unknown>;
}

export async function recordAuditEvent(
  executor: Executor,
  actor: AuditActor,
  entry: AuditEntry,
  nowMilliseconds: number,
): Promise<void> {
  await insertAuditEvent(executor, {
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

/** A change to something that belongs to a project (a key, a CLI login): the event names the project and tenant. */
export async function recordProjectEvent(
  executor: Executor,
  actor: AuditActor,
  action: AuditAction,
  target: AuditEntry["target"],
  project: { id: string; tenantId: string },
  nowMilliseconds: number,
  details: Record<string, unknown>,
): Promise<void> {
  await recordAuditEvent(
    executor,
    actor,
    { action, target, tenantId: project.tenantId, projectId: project.id, details },
    nowMilliseconds,
  );
}

export async function readAuditEvents(executor: Executor, filter: AuditEventFilter): Promise<Page<AuditEventRow>> {
  return pageOf(await listAuditEvents(executor, filter), filter.limit);
}
