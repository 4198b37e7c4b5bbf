/** Reading the audit trail: root key only. */
import { z } from "zod";
import type { AuditEventRow } from "../../db/schema.ts";
import { AUDIT_ACTIONS, readAuditEvents } from "../../domain/audit/service.ts";
import { route } from "../../http/route.ts";
import { IsoDateTime, idOf, listOf, listResponse, pageQuery } from "../../http/wire.ts";
import { toIsoString } from "../../lib/clock.ts";

const AuditEvent = z
  .object({
    id: z.string(),
    object: z.literal("audit_event"),
    action: z.string(),
    occurred_at: IsoDateTime,
    actor: z.object({ type: z.string(), id: z.string().nullable() }),
    target: z.object({ type: z.string(), id: z.string() }),
    tenant_id: z.string().nullable(),
    project_id: z.string().nullable(),
    ip: z.string().nullable(),
    user_agent: z.string().nullable(),
    request_id: z.string().nullable(),
    details: z.record(z.string(), z.unknown()),
  })
  .meta({ id: "AuditEvent" });

const AuditQuery = z.object({
  ...pageQuery("auditEvent"),
  tenant_id: idOf("tenant").optional(),
  project_id: idOf("project").optional(),
  action: z.enum(AUDIT_ACTIONS).optional(),
});

function presentAuditEvent(row: AuditEventRow): z.input<typeof AuditEvent> {
  return {
    id: row.id,
    object: "audit_event",
    action: row.action,
    occurred_at: toIsoString(row.occurredAtMs),
    actor: { type: row.actorType, id: row.actorId },
    target: { type: row.targetType, id: row.targetId },
    tenant_id: row.tenantId,
    project_id: row.projectId,
    ip: row.ip,
    user_agent: row.userAgent,
    request_id: row.requestId,
    details: row.details,
  };
}

export const auditRoutes = [
  route({
    method: "GET",
    path: "/v1/audit",
    operationId: "listAuditEvents",
    summary: "List audit events, newest first, optionally filtered by tenant, project or action.",
    tags: ["audit"],
    credential: "root",
    query: AuditQuery,
    responses: { 200: listOf(AuditEvent) },
    handle: async ({ deps, query }) => {
      const page = await readAuditEvents(deps.storage.reader, {
        beforeId: query.cursor,
        limit: query.limit,
        tenantId: query.tenant_id,
        projectId: query.project_id,
        action: query.action,
      });
      return listResponse(page.items.map(presentAuditEvent), page.nextCursor);
    },
  }),
];
