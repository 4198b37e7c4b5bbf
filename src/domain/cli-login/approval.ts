/**
 * The approver's side of a login: the host app (a key holding `cli:approve`, naming the user) or the user's browser
 * (a session token holding it) looks a pending login up by its user code, then approves it (minting the CLI's key,
 * sealed to the login) or denies it. Exactly one decision ever wins: each is one guarded write.
 *
 * A user code is short, so wrong guesses are bounded whoever the approver claims to be: see guesses.ts.
 */

import type { CliLoginRow, ProjectRow } from "../../db/schema.ts";
import { AppError } from "../../lib/errors.ts";
import { type AuditActor, actorIdOf } from "../audit/service.ts";
import type { Caller } from "../keys/caller.ts";
import { defaultPolicyOf, grantedRateLimit, lineageOf } from "../keys/grants.ts";
import { RESERVED_SCOPES, scopesBeyondGrantor } from "../keys/scopes.ts";
import { generateSecret } from "../keys/secret.ts";
import { insertNewKey } from "../keys/service.ts";
import { findKey } from "../keys/store.ts";
import { findProject } from "../tenants/store.ts";
import { type CliLoginDeps, recordLoginEvent } from "./expiry.ts";
import { findPendingLoginByUserCode } from "./guesses.ts";
import { type CliLoginStatus, displayUserCode, effectiveStatus, hashLoginId, isLoginIdShaped } from "./model.ts";
import { seal } from "./sealing.ts";
import * as store from "./store.ts";

/** How an approver names a login: by its id (the host app's server got it from its CLI) or by the user code. */
export type LoginTarget = { loginId: string } | { userCode: string };

export interface Approval {
  /** The end user the key is for; a session token's subject when the approver is a browser. */
  userId?: string;
  scopes?: string[];
  expiresAtMs?: number;
}

export interface ApprovedCliLogin {
  keyId: string;
  owner: string;
  scopes: string[];
  expiresAtMs: number;
  callbackUrl: string | null;
}

export async function approveCliLogin(
  deps: CliLoginDeps,
  approver: Caller,
  actor: AuditActor,
  target: LoginTarget,
  approval: Approval,
  nowMilliseconds: number,
): Promise<ApprovedCliLogin> {
  const login = await loginForApprover(deps, approver, actor.ip, target, nowMilliseconds);
  const project = (await findProject(deps.storage.reader, login.projectId))!;
  const owner = approvingUser(approver, approval.userId);
  const scopes = grantedScopes(approver, project, login, approval.scopes);
  if (approval.expiresAtMs !== undefined && approval.expiresAtMs <= nowMilliseconds) {
    throw new AppError("VALIDATION_FAILED", { details: [{ path: "expires_at", message: "must be in the future" }] });
  }
  const expiresAtMs = approval.expiresAtMs ?? nowMilliseconds + project.cliKeyTtlSeconds * 1000;
  const status = effectiveStatus(login, nowMilliseconds);
  if (status !== "pending") throw conflict(status);
  const secret = generateSecret(project.keyPrefix);
  // Sealed before the transaction, which should hold the write lock only as long as its statements take; if another
  // approver wins the race, the transaction below refuses and the secret is simply never used.
  const sealedKey = await seal(secret, login.sealingPublicKey);
  return deps.storage.writeTransaction(async (tx) => {
    // Like any key a credential creates: no larger a bucket than the approver's, and through a browser's token,
    // bound to that token's parent key.
    const parent = approver.kind === "session" ? await findKey(tx, approver.keyId) : undefined;
    const lineage = lineageOf(approver, parent, expiresAtMs, nowMilliseconds);
    const keyExpiresAtMs = lineage.expiresAtMs ?? expiresAtMs;
    const key = await insertNewKey(
      tx,
      actor,
      {
        projectId: project.id,
        tenantId: project.tenantId,
        name: `CLI: ${login.deviceName ?? "unnamed device"}`.slice(0, 200),
        scopes,
        owner,
        expiresAtMs: keyExpiresAtMs,
        isRoot: false,
        enabled: true,
        meta: null,
        ipAllowlist: null,
        ratelimit: grantedRateLimit(approver, undefined, defaultPolicyOf(project)),
        parentKeyId: lineage.parentKeyId,
      },
      secret,
      nowMilliseconds,
    );
    const approved = await store.markApproved(
      tx,
      login.idHash,
      { approvedBy: actorIdOf(approver), keyId: key.id, sealedKey },
      nowMilliseconds,
    );
    if (!approved) {
      // Another approver or a denial won the race: the key inserted above rolls back with this refusal.
      throw conflict(effectiveStatus((await store.findCliLogin(tx, login.idHash))!, nowMilliseconds));
    }
    await recordLoginEvent(tx, actor, "cli_session.approved", project, login.idHash, nowMilliseconds, {
      key_id: key.id,
      owner,
      scopes,
    });
    return { keyId: key.id, owner, scopes, expiresAtMs: keyExpiresAtMs, callbackUrl: login.callbackUrl };
  });
}

export async function denyCliLogin(
  deps: CliLoginDeps,
  approver: Caller,
  actor: AuditActor,
  target: LoginTarget,
  nowMilliseconds: number,
): Promise<{ callbackUrl: string | null }> {
  const login = await loginForApprover(deps, approver, actor.ip, target, nowMilliseconds);
  const status = effectiveStatus(login, nowMilliseconds);
  if (status !== "pending") throw conflict(status);
  await deps.storage.writeTransaction(async (tx) => {
    if (!(await store.markDenied(tx, login.idHash, actorIdOf(approver), nowMilliseconds))) {
      throw conflict(effectiveStatus((await store.findCliLogin(tx, login.idHash))!, nowMilliseconds));
    }
    const project = (await findProject(tx, login.projectId))!;
    await recordLoginEvent(tx, actor, "cli_session.denied", project, login.idHash, nowMilliseconds, {
      by: actorIdOf(approver),
    });
  });
  return { callbackUrl: login.callbackUrl };
}

export interface CliLoginForApproval {
  deviceName: string | null;
  userCode: string;
  requesterIp: string | null;
  requesterUserAgent: string | null;
  createdAtMs: number;
  expiresAtMs: number;
  scopes: string[] | null;
  status: CliLoginStatus;
  project: { id: string; name: string };
  /** Where the browser goes once the user decides: the callback URL's host, or null for nowhere. */
  callbackHost: string | null;
}

/** What the approval page shows: the project, who asked, from where, when, for which scopes, where to next. */
export async function describeCliLoginForApproval(
  deps: CliLoginDeps,
  approver: Caller,
  requesterIp: string | null,
  userCode: string,
  nowMilliseconds: number,
): Promise<CliLoginForApproval> {
  const login = await loginForApprover(deps, approver, requesterIp, { userCode }, nowMilliseconds);
  const project = (await findProject(deps.storage.reader, login.projectId))!;
  return {
    deviceName: login.deviceName,
    userCode: displayUserCode(login.userCode),
    requesterIp: login.requesterIp,
    requesterUserAgent: login.requesterUserAgent,
    createdAtMs: login.createdAtMs,
    expiresAtMs: login.expiresAtMs,
    scopes: login.requestedScopes ?? project.cliDefaultScopes,
    status: effectiveStatus(login, nowMilliseconds),
    project: { id: project.id, name: project.name },
    callbackHost: login.callbackUrl === null ? null : new URL(login.callbackUrl).host,
  };
}

/**
 * The login an approver acts on: by id, or by user code (counting wrong codes, see above), within the approver's
 * project (the root key without X-Project-Id: any).
 */
async function loginForApprover(
  deps: CliLoginDeps,
  approver: Caller,
  requesterIp: string | null,
  target: LoginTarget,
  nowMilliseconds: number,
): Promise<CliLoginRow> {
  const reader = deps.storage.reader;
  const inReach = (login: CliLoginRow | undefined): login is CliLoginRow =>
    login !== undefined && (approver.crossProject || login.projectId === approver.projectId);
  let login: CliLoginRow | undefined;
  if ("loginId" in target) {
    login = isLoginIdShaped(target.loginId) ? await store.findCliLogin(reader, hashLoginId(target.loginId)) : undefined;
  } else {
    login = await findPendingLoginByUserCode(
      deps.storage,
      approver,
      requesterIp,
      target.userCode,
      inReach,
      nowMilliseconds,
    );
  }
  if (!inReach(login)) throw new AppError("NOT_FOUND", { message: "No such login session." });
  return login;
}

function approvingUser(approver: Caller, userId: string | undefined): string {
  if (approver.kind === "session") {
    if (userId !== undefined && userId !== approver.subject) {
      throw new AppError("VALIDATION_FAILED", {
        message: "A browser approves for its own user.",
        details: [{ path: "user_id", message: "must be omitted or equal the session token's user" }],
      });
    }
    return approver.subject;
  }
  if (userId === undefined) {
    throw new AppError("VALIDATION_FAILED", {
      details: [{ path: "user_id", message: "is required when approving with an API key" }],
    });
  }
  return userId;
}

/** The approval's scopes, else the ones the CLI asked for, else the project's default; never beyond the approver. */
function grantedScopes(
  approver: Caller,
  project: ProjectRow,
  login: CliLoginRow,
  asked: string[] | undefined,
): string[] {
  const scopes = [...new Set(asked ?? login.requestedScopes ?? project.cliDefaultScopes ?? [])].filter(
    (scope) => scope !== RESERVED_SCOPES.cliApprove || asked !== undefined,
  );
  if (scopes.length === 0) {
    throw new AppError("VALIDATION_FAILED", {
      message: "Nothing to grant: pass scopes, or set the project's cli_default_scopes.",
      details: [{ path: "scopes", message: "must list at least one scope" }],
    });
  }
  const beyond = scopesBeyondGrantor(approver, scopes);
  if (beyond.length > 0) {
    throw new AppError("SCOPE_NOT_GRANTED", {
      message: "The key for the CLI can only carry scopes the approver holds.",
      details: beyond.map((scope) => ({
        path: asked !== undefined ? `scopes[${scopes.indexOf(scope)}]` : "scopes",
        message: scope,
      })),
    });
  }
  return scopes;
}

/** States only move forward: approving or denying anything but a pending login is a conflict. */
function conflict(status: CliLoginStatus): AppError {
  const messages: Record<CliLoginStatus, string> = {
    pending: "This login session changed meanwhile; try again.",
    approved: "This login session was already approved.",
    delivered: "This login session was already approved and its key collected.",
    denied: "This login session was denied.",
    expired: "This login session has expired.",
  };
  return new AppError("CONFLICT", { message: messages[status] });
}
