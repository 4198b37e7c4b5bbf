/**
 * CLI login sessions: creation by the CLI, polling and acknowledgement, approval and denial by the host app (a key
 * holding `cli:approve`) or by the end user in a browser (a session token holding `cli:approve`), and the RFC 8628
 * device grant over the same sessions. See model.ts for the states and rules.
 */
import { type AuditAction, type AuditActor, recordAuditEvent } from "../audit/service.ts";
import type { Db } from "../db/client.ts";
import type { Executor } from "../db/executor.ts";
import type { CliSessionRow, ProjectRow } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { insertNewKey } from "../keys/service.ts";
import { findKey } from "../keys/store.ts";
import { RESERVED_SCOPES, scopesBeyondGrantor } from "../keys/scopes.ts";
import { generateSecret } from "../keys/secret.ts";
import type { RateLimiter } from "../ratelimit/limiter.ts";
import { findDefaultProject, findProject, findTenant } from "../tenants/store.ts";
import { decideTenantAccess } from "../verify/decision.ts";
import type { Principal } from "../verify/principal.ts";
import {
  type CliSessionStatus,
  checkCallbackUrl,
  DELIVERY_WINDOW_MILLISECONDS,
  displayUserCode,
  effectiveStatus,
  hashSessionId,
  isSessionIdShaped,
  newSessionId,
  newUserCode,
  normaliseUserCode,
  pollPace,
  verifierMatches,
  WRONG_USER_CODE_ATTEMPTS,
  WRONG_USER_CODE_ATTEMPTS_PER_PROJECT,
} from "./model.ts";
import { open, seal, sealingPublicKeyFor } from "./sealing.ts";
import * as store from "./store.ts";

export interface CliLoginDeps {
  db: Db;
  rateLimiter: RateLimiter;
  settings: { publicUrl: string };
}

export interface Requester {
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
}

export interface NewLoginSession {
  projectId?: string;
  /** Where the caller named the project (X-Project-Id, or client_id for RFC 8628), for the error that names it. */
  projectNamedBy: string;
  deviceName?: string;
  callbackUrl?: string;
  codeChallenge?: string;
  scopes?: string[];
}

export interface CreatedLoginSession {
  sessionId: string;
  userCode: string;
  /** Where the user goes, with the code in it. */
  verificationUrl: string;
  /** The same page without the code (RFC 8628 `verification_uri`). */
  verificationUri: string;
  expiresAtMs: number;
  intervalSeconds: number;
  projectId: string;
}

const USER_CODE_ATTEMPTS = 5;

export function createLoginSession(
  deps: CliLoginDeps,
  input: NewLoginSession,
  requester: Requester,
  nowMilliseconds: number,
): CreatedLoginSession {
  const project = input.projectId === undefined ? findDefaultProject(deps.db) : findProject(deps.db, input.projectId);
  if (!project) {
    throw new AppError("NOT_FOUND", {
      message: "No such project.",
      details: [{ path: input.projectNamedBy, message: "no project has this id" }],
    });
  }
  const tenantRefusal = decideTenantAccess(findTenant(deps.db, project.tenantId)!, "cli_login");
  if (tenantRefusal && !tenantRefusal.ok) throw new AppError(tenantRefusal.code, { details: tenantRefusal.details });
  if (input.callbackUrl !== undefined) {
    const check = checkCallbackUrl(input.callbackUrl, project);
    if (!check.ok)
      throw new AppError("VALIDATION_FAILED", { details: [{ path: "callbackUrl", message: check.reason }] });
  }
  const sessionId = newSessionId();
  const idHash = hashSessionId(sessionId);
  const expiresAtMs = nowMilliseconds + project.cliSessionTtlSeconds * 1000;
  const userCode = deps.db.transaction(
    (tx) => {
      let code = newUserCode();
      for (let attempt = 1; store.isPendingUserCodeTaken(tx, code); attempt++) {
        if (attempt >= USER_CODE_ATTEMPTS) throw new Error("could not find a free user code");
        code = newUserCode();
      }
      store.insertCliSession(tx, {
        idHash,
        projectId: project.id,
        status: "pending",
        userCode: code,
        deviceName: input.deviceName ?? null,
        callbackUrl: input.callbackUrl ?? null,
        codeChallenge: input.codeChallenge ?? null,
        requestedScopes: input.scopes ? [...new Set(input.scopes)] : null,
        requesterIp: requester.ip,
        requesterUserAgent: requester.userAgent,
        sealingPublicKey: sealingPublicKeyFor(sessionId),
        pollIntervalSeconds: project.cliPollIntervalSeconds,
        lastPolledAtMs: null,
        createdAtMs: nowMilliseconds,
        expiresAtMs,
        decidedAtMs: null,
        approvedBy: null,
        keyId: null,
        sealedKey: null,
        firstDeliveredAtMs: null,
      });
      recordSessionEvent(tx, anonymousActor(requester), "cli_session.created", project, idHash, nowMilliseconds, {
        device_name: input.deviceName ?? null,
        callback_url: input.callbackUrl ?? null,
        pkce: input.codeChallenge !== undefined,
        scopes: input.scopes ?? null,
      });
      return code;
    },
    { behavior: "immediate" },
  );
  const verificationUri = project.verificationUrl ?? `${deps.settings.publicUrl}/device`;
  const url = new URL(verificationUri);
  url.searchParams.set("code", displayUserCode(userCode));
  return {
    sessionId,
    userCode: displayUserCode(userCode),
    verificationUrl: url.toString(),
    verificationUri,
    expiresAtMs,
    intervalSeconds: project.cliPollIntervalSeconds,
    projectId: project.id,
  };
}

export type PollOutcome =
  | { status: "pending"; deviceName: string | null }
  | { status: "completed"; apiKey: string }
  | { status: "expired" }
  | { status: "too_fast"; retryAfterSeconds: number };

/**
 * The CLI's poll. A minted key is handed over (and again on later polls) until the CLI acknowledges it or 60 seconds
 * after the first hand-over, whichever comes first.
 */
export async function pollLoginSession(
  deps: CliLoginDeps,
  sessionId: string,
  codeVerifier: string | null,
  requester: Requester,
  nowMilliseconds: number,
): Promise<PollOutcome> {
  const session = sessionHeldBy(deps.db, sessionId, codeVerifier);
  const status = settle(deps, session, requester, nowMilliseconds);
  if (!store.recordPoll(deps.db, session.idHash, nowMilliseconds)) {
    const pace = pollPace(session.lastPolledAtMs, session.pollIntervalSeconds, nowMilliseconds);
    return { status: "too_fast", retryAfterSeconds: pace.ok ? 1 : pace.retryAfterSeconds };
  }
  if (status === "pending") return { status: "pending", deviceName: session.deviceName };
  if (status !== "approved" || session.sealedKey === null) return { status: "expired" };
  const apiKey = await open(session.sealedKey, sessionId);
  store.markFirstDelivery(deps.db, session.idHash, nowMilliseconds);
  return { status: "completed", apiKey };
}

/** DELETE from the CLI: cancels a pending session, or acknowledges a delivered key (which is then wiped). */
export function acknowledgeOrCancel(
  deps: CliLoginDeps,
  sessionId: string,
  codeVerifier: string | null,
  requester: Requester,
  nowMilliseconds: number,
): void {
  const session = sessionHeldBy(deps.db, sessionId, codeVerifier);
  const status = settle(deps, session, requester, nowMilliseconds);
  const project = findProject(deps.db, session.projectId)!;
  const actor = anonymousActor(requester);
  deps.db.transaction(
    (tx) => {
      if (status === "pending" && store.markDenied(tx, session.idHash, "cli", nowMilliseconds)) {
        recordSessionEvent(tx, actor, "cli_session.denied", project, session.idHash, nowMilliseconds, { by: "cli" });
      } else if (status === "approved" && store.markDelivered(tx, session.idHash)) {
        recordSessionEvent(tx, actor, "cli_session.delivered", project, session.idHash, nowMilliseconds, {
          key_id: session.keyId,
        });
      }
    },
    { behavior: "immediate" },
  );
}

export type SessionTarget = { sessionId: string } | { userCode: string };

export interface Approval {
  /** The end user the key is for; a session token's subject when the approver is a browser. */
  userId?: string;
  scopes?: string[];
  expiresAtMs?: number;
}

export interface ApprovedSession {
  keyId: string;
  owner: string;
  scopes: string[];
  expiresAtMs: number;
  callbackUrl: string | null;
}

export async function approveLoginSession(
  deps: CliLoginDeps,
  approver: Principal,
  actor: AuditActor,
  target: SessionTarget,
  approval: Approval,
  nowMilliseconds: number,
): Promise<ApprovedSession> {
  const session = sessionForApprover(deps, approver, actor.ip, target, nowMilliseconds);
  const project = findProject(deps.db, session.projectId)!;
  const owner = approvingUser(approver, approval.userId);
  const scopes = grantedScopes(approver, project, session, approval.scopes);
  if (approval.expiresAtMs !== undefined && approval.expiresAtMs <= nowMilliseconds) {
    throw new AppError("VALIDATION_FAILED", { details: [{ path: "expires_at", message: "must be in the future" }] });
  }
  const expiresAtMs = approval.expiresAtMs ?? nowMilliseconds + project.cliKeyTtlSeconds * 1000;
  const status = effectiveStatus(session, nowMilliseconds);
  if (status !== "pending") throw conflict(status);
  const secret = generateSecret(project.keyPrefix);
  // Sealing is asynchronous and a SQLite transaction must not wait, so the box is made first; if another approver
  // wins the race, the transaction below refuses and the secret is simply never used.
  const sealedKey = await seal(secret, session.sealingPublicKey);
  return deps.db.transaction(
    (tx) => {
      const key = insertNewKey(
        tx,
        actor,
        {
          projectId: project.id,
          tenantId: project.tenantId,
          name: `CLI: ${session.deviceName ?? "unnamed device"}`.slice(0, 200),
          scopes,
          owner,
          expiresAtMs,
          isRoot: false,
          ratelimit: null,
        },
        secret,
        nowMilliseconds,
      );
      if (
        !store.markApproved(
          tx,
          session.idHash,
          { approvedBy: describeActor(approver), keyId: key.id, sealedKey },
          nowMilliseconds,
        )
      ) {
        // Another approver or a denial won the race: the key inserted above rolls back with this refusal.
        throw conflict(effectiveStatus(store.findCliSession(tx, session.idHash)!, nowMilliseconds));
      }
      recordSessionEvent(tx, actor, "cli_session.approved", project, session.idHash, nowMilliseconds, {
        key_id: key.id,
        owner,
        scopes,
      });
      return { keyId: key.id, owner, scopes, expiresAtMs, callbackUrl: session.callbackUrl };
    },
    { behavior: "immediate" },
  );
}

export function denyLoginSession(
  deps: CliLoginDeps,
  approver: Principal,
  actor: AuditActor,
  target: SessionTarget,
  nowMilliseconds: number,
): { callbackUrl: string | null } {
  const session = sessionForApprover(deps, approver, actor.ip, target, nowMilliseconds);
  const status = effectiveStatus(session, nowMilliseconds);
  if (status !== "pending") throw conflict(status);
  const project = findProject(deps.db, session.projectId)!;
  deps.db.transaction(
    (tx) => {
      if (!store.markDenied(tx, session.idHash, describeActor(approver), nowMilliseconds)) {
        throw conflict(effectiveStatus(store.findCliSession(tx, session.idHash)!, nowMilliseconds));
      }
      recordSessionEvent(tx, actor, "cli_session.denied", project, session.idHash, nowMilliseconds, {
        by: describeActor(approver),
      });
    },
    { behavior: "immediate" },
  );
  return { callbackUrl: session.callbackUrl };
}

export interface SessionForApproval {
  deviceName: string | null;
  userCode: string;
  requesterIp: string | null;
  requesterUserAgent: string | null;
  createdAtMs: number;
  expiresAtMs: number;
  scopes: string[] | null;
  status: CliSessionStatus;
  project: { id: string; name: string };
  /** Where the browser goes once the user decides: the callback URL's host, or null for nowhere. */
  callbackHost: string | null;
}

/** What the approval page shows: who asked, from where, when, for which scopes. */
export function lookupForApproval(
  deps: CliLoginDeps,
  approver: Principal,
  requesterIp: string | null,
  userCode: string,
  nowMilliseconds: number,
): SessionForApproval {
  const session = sessionForApprover(deps, approver, requesterIp, { userCode }, nowMilliseconds);
  const project = findProject(deps.db, session.projectId)!;
  return {
    deviceName: session.deviceName,
    userCode: displayUserCode(session.userCode),
    requesterIp: session.requesterIp,
    requesterUserAgent: session.requesterUserAgent,
    createdAtMs: session.createdAtMs,
    expiresAtMs: session.expiresAtMs,
    scopes: session.requestedScopes ?? project.cliDefaultScopes,
    status: effectiveStatus(session, nowMilliseconds),
    project: { id: project.id, name: project.name },
    callbackHost: session.callbackUrl === null ? null : new URL(session.callbackUrl).host,
  };
}

/** RFC 8628 token endpoint outcomes, named as the RFC names them. */
export type DeviceTokenOutcome =
  | { ok: true; accessToken: string; scopes: string[] }
  | { ok: false; error: "authorization_pending" | "slow_down" | "access_denied" | "expired_token" | "invalid_grant" };

/**
 * The device grant's token request. RFC 8628 clients never acknowledge, so the key is delivered (and wiped) by the
 * answer that carries it.
 */
export async function exchangeDeviceCode(
  deps: CliLoginDeps,
  deviceCode: string,
  clientId: string,
  requester: Requester,
  nowMilliseconds: number,
): Promise<DeviceTokenOutcome> {
  const session = isSessionIdShaped(deviceCode) ? store.findCliSession(deps.db, hashSessionId(deviceCode)) : undefined;
  if (!session || session.projectId !== clientId || session.codeChallenge !== null)
    return { ok: false, error: "invalid_grant" };
  const status = settle(deps, session, requester, nowMilliseconds);
  if (status === "denied") return { ok: false, error: "access_denied" };
  if (status === "expired") return { ok: false, error: "expired_token" };
  if (status === "delivered") return { ok: false, error: "invalid_grant" };
  if (!store.recordPoll(deps.db, session.idHash, nowMilliseconds)) {
    store.slowDown(deps.db, session.idHash, nowMilliseconds);
    return { ok: false, error: "slow_down" };
  }
  if (status === "pending" || session.sealedKey === null) return { ok: false, error: "authorization_pending" };
  const accessToken = await open(session.sealedKey, deviceCode);
  const project = findProject(deps.db, session.projectId)!;
  const delivered = deps.db.transaction(
    (tx) => {
      if (!store.markDelivered(tx, session.idHash)) return false;
      recordSessionEvent(
        tx,
        anonymousActor(requester),
        "cli_session.delivered",
        project,
        session.idHash,
        nowMilliseconds,
        {
          key_id: session.keyId,
          grant: "device_code",
        },
      );
      return true;
    },
    { behavior: "immediate" },
  );
  if (!delivered) return { ok: false, error: "invalid_grant" };
  return { ok: true, accessToken, scopes: session.keyId ? scopesOfKey(deps.db, session.keyId) : [] };
}

/** Housekeeping: sessions whose time ran out are marked expired and any key waiting in them is wiped. */
export function sweepCliSessions(deps: CliLoginDeps, nowMilliseconds: number): number {
  let swept = 0;
  for (const session of store.listLapsedCliSessions(deps.db, nowMilliseconds, DELIVERY_WINDOW_MILLISECONDS)) {
    if (settle(deps, session, { ip: null, userAgent: null, requestId: null }, nowMilliseconds) === "expired") swept++;
  }
  return swept;
}

function sessionHeldBy(db: Db, sessionId: string, codeVerifier: string | null): CliSessionRow {
  const session = isSessionIdShaped(sessionId) ? store.findCliSession(db, hashSessionId(sessionId)) : undefined;
  if (!session || session.status === "denied") throw new AppError("NOT_FOUND", { message: "No such login session." });
  if (session.codeChallenge !== null) {
    if (codeVerifier === null) {
      throw new AppError("VALIDATION_FAILED", {
        message: "This session was started with a code challenge: send its verifier.",
        details: [{ path: "X-Code-Verifier", message: "is required" }],
      });
    }
    if (!verifierMatches(session.codeChallenge, codeVerifier)) {
      throw new AppError("VALIDATION_FAILED", {
        details: [{ path: "X-Code-Verifier", message: "does not match the code challenge" }],
      });
    }
  }
  return session;
}

/** Brings the row in line with time (expiry, the end of the delivery window), recording the expiry once. */
function settle(
  deps: CliLoginDeps,
  session: CliSessionRow,
  requester: Requester,
  nowMilliseconds: number,
): CliSessionStatus {
  const status = effectiveStatus(session, nowMilliseconds);
  if (status === "expired" && session.status !== "expired") {
    const project = findProject(deps.db, session.projectId)!;
    deps.db.transaction(
      (tx) => {
        if (store.markExpired(tx, session.idHash)) {
          recordSessionEvent(
            tx,
            anonymousActor(requester),
            "cli_session.expired",
            project,
            session.idHash,
            nowMilliseconds,
            {
              key_id: session.keyId,
              was: session.status,
            },
          );
        }
      },
      { behavior: "immediate" },
    );
  }
  return status;
}

/**
 * The session an approver acts on: by id, or by user code within the approver's project (the root key without
 * X-Project-Id: any). A user code is short, so wrong guesses are bounded whoever the approver claims to be (RFC 8628
 * §5.1): per approving key (a session token counts against its parent, so minting tokens for new "users" buys no
 * guesses), per client address, and per project overall. Past any bound, every lookup by code is 429 until the
 * window (the project's CLI session lifetime) has refilled it.
 */
function sessionForApprover(
  deps: CliLoginDeps,
  approver: Principal,
  requesterIp: string | null,
  target: SessionTarget,
  nowMilliseconds: number,
): CliSessionRow {
  let session: CliSessionRow | undefined;
  if ("sessionId" in target) {
    session = isSessionIdShaped(target.sessionId)
      ? store.findCliSession(deps.db, hashSessionId(target.sessionId))
      : undefined;
  } else {
    const buckets = userCodeGuessBuckets(deps.db, approver, requesterIp);
    if (buckets.some(({ name, policy }) => deps.rateLimiter.peek(name, policy, nowMilliseconds) < 1)) {
      throw new AppError("RATE_LIMITED", { message: "Too many wrong user codes; wait before trying again." });
    }
    const code = normaliseUserCode(target.userCode);
    session = code === null ? undefined : store.findPendingCliSessionByUserCode(deps.db, code);
    if (!session || (!approver.crossProject && session.projectId !== approver.projectId)) {
      for (const { name, policy } of buckets) deps.rateLimiter.take(name, policy, nowMilliseconds);
      session = undefined;
    }
  }
  if (!session || (!approver.crossProject && session.projectId !== approver.projectId)) {
    throw new AppError("NOT_FOUND", { message: "No such login session." });
  }
  return session;
}

function userCodeGuessBuckets(db: Db, approver: Principal, requesterIp: string | null) {
  const windowSeconds = findProject(db, approver.projectId)?.cliSessionTtlSeconds ?? 600;
  const perKey = { limit: WRONG_USER_CODE_ATTEMPTS, windowSeconds };
  const buckets = [
    { name: `user-code-guesses:key:${approver.keyId}`, policy: perKey },
    {
      name: `user-code-guesses:project:${approver.projectId}`,
      policy: { limit: WRONG_USER_CODE_ATTEMPTS_PER_PROJECT, windowSeconds },
    },
  ];
  if (requesterIp !== null) buckets.push({ name: `user-code-guesses:ip:${requesterIp}`, policy: perKey });
  return buckets;
}

function approvingUser(approver: Principal, userId: string | undefined): string {
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
  approver: Principal,
  project: ProjectRow,
  session: CliSessionRow,
  asked: string[] | undefined,
): string[] {
  const source = asked !== undefined ? "scopes" : session.requestedScopes ? "requested" : "default";
  const scopes = [...new Set(asked ?? session.requestedScopes ?? project.cliDefaultScopes ?? [])].filter(
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
        path: source === "scopes" ? `scopes[${scopes.indexOf(scope)}]` : "scopes",
        message: scope,
      })),
    });
  }
  return scopes;
}

/** States only move forward: approving or denying anything but a pending session is a conflict. */
function conflict(status: CliSessionStatus): AppError {
  const messages: Record<CliSessionStatus, string> = {
    pending: "This login session changed meanwhile; try again.",
    approved: "This login session was already approved.",
    delivered: "This login session was already approved and its key collected.",
    denied: "This login session was denied.",
    expired: "This login session has expired.",
  };
  return new AppError("CONFLICT", { message: messages[status] });
}

function describeActor(principal: Principal): string {
  return principal.kind === "session" ? `${principal.keyId}/${principal.subject}` : principal.keyId;
}

function anonymousActor(requester: Requester): AuditActor {
  return {
    type: "anonymous",
    id: null,
    ip: requester.ip,
    userAgent: requester.userAgent,
    requestId: requester.requestId,
  };
}

/** Audit target for a session: a non-reversible reference (the id itself is a secret and is never stored). */
function sessionReference(idHash: string): string {
  return `cls_${idHash.slice(0, 24)}`;
}

function recordSessionEvent(
  executor: Executor,
  actor: AuditActor,
  action: AuditAction,
  project: ProjectRow,
  idHash: string,
  nowMilliseconds: number,
  details: Record<string, unknown>,
): void {
  recordAuditEvent(
    executor,
    actor,
    {
      action,
      target: { type: "cli_session", id: sessionReference(idHash) },
      tenantId: project.tenantId,
      projectId: project.id,
      details,
    },
    nowMilliseconds,
  );
}

function scopesOfKey(db: Db, keyId: string): string[] {
  return findKey(db, keyId)?.scopes ?? [];
}
