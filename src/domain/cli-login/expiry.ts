/**
 * What every part of CLI login shares: its dependencies, the audit record of a login's transitions, and time's say
 * over a login. A row is brought in line with time when it is next touched (a poll, an approval, the device grant) or
 * by the periodic sweep, whichever comes first; either way the expiry is recorded once and any key waiting in the
 * row is wiped.
 */

import type { CliLoginRow } from "../../db/schema.ts";
import type { Executor, Storage } from "../../db/storage.ts";
import {
  type AuditAction,
  type AuditActor,
  auditActorOf,
  type RequestContext,
  recordProjectEvent,
} from "../audit/service.ts";
import type { Limiter } from "../ratelimit/limiter.ts";
import { findProject } from "../tenants/store.ts";
import { type CliLoginStatus, DELIVERY_WINDOW_MILLISECONDS, effectiveStatus } from "./model.ts";
import * as store from "./store.ts";

export interface CliLoginDeps {
  storage: Storage;
  rateLimiter: Limiter;
  settings: { publicUrl: string };
}

/** Audit target for a login: a non-reversible reference (the id itself is a secret and is never stored). */
function loginTarget(idHash: string) {
  return { type: "cli_session" as const, id: `cls_${idHash.slice(0, 24)}` };
}

export async function recordLoginEvent(
  executor: Executor,
  actor: AuditActor,
  action: AuditAction,
  project: { id: string; tenantId: string },
  idHash: string,
  nowMilliseconds: number,
  details: Record<string, unknown>,
): Promise<void> {
  await recordProjectEvent(executor, actor, action, loginTarget(idHash), project, nowMilliseconds, details);
}

/** The login's status now; a login whose time ran out is marked expired (and its key wiped) on the way. */
export async function expireIfLapsed(
  deps: CliLoginDeps,
  login: CliLoginRow,
  context: RequestContext,
  nowMilliseconds: number,
): Promise<CliLoginStatus> {
  const status = effectiveStatus(login, nowMilliseconds);
  if (status === "expired" && login.status !== "expired") {
    await deps.storage.writeTransaction(async (tx) => {
      if (!(await store.markExpired(tx, login.idHash))) return;
      const project = (await findProject(tx, login.projectId))!;
      await recordLoginEvent(
        tx,
        auditActorOf(null, context),
        "cli_session.expired",
        project,
        login.idHash,
        nowMilliseconds,
        {
          key_id: login.keyId,
          was: login.status,
        },
      );
    });
  }
  return status;
}

const HOUSEKEEPING: RequestContext = { requestId: null, ip: null, userAgent: null };

/** Housekeeping: logins whose time ran out are marked expired and any key waiting in them is wiped. */
export async function expireLapsedCliLogins(deps: CliLoginDeps, nowMilliseconds: number): Promise<number> {
  const lapsed = await store.listLapsedCliLogins(deps.storage.reader, nowMilliseconds, DELIVERY_WINDOW_MILLISECONDS);
  let expired = 0;
  for (const login of lapsed) {
    if ((await expireIfLapsed(deps, login, HOUSEKEEPING, nowMilliseconds)) === "expired") expired++;
  }
  return expired;
}
