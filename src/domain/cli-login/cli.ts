/**
 * The CLI's side of a login: start it, poll it, and close it (cancel while pending, or acknowledge the key it saved).
 * The CLI holds the login id (`cls_…`), a capability: only its hash is stored, and with PKCE every later call also
 * needs the verifier.
 */

import type { CliLoginRow } from "../../db/schema.ts";
import type { Storage } from "../../db/storage.ts";
import { AppError } from "../../lib/errors.ts";
import { auditActorOf, type RequestContext } from "../audit/service.ts";
import { decideTenantAccess } from "../tenants/model.ts";
import { findDefaultProject, findProject, findTenant } from "../tenants/store.ts";
import { type CliLoginDeps, expireIfLapsed, recordLoginEvent } from "./expiry.ts";
import {
  checkCallbackUrl,
  displayUserCode,
  hashLoginId,
  isLoginIdShaped,
  newLoginId,
  newUserCode,
  pollPace,
  verifierMatches,
} from "./model.ts";
import { open, sealingPublicKeyFor } from "./sealing.ts";
import * as store from "./store.ts";

export interface NewCliLogin {
  projectId?: string;
  /** Where the caller named the project (X-Project-Id, or client_id for RFC 8628), for the error that names it. */
  projectNamedBy: string;
  deviceName?: string;
  callbackUrl?: string;
  codeChallenge?: string;
  scopes?: string[];
}

export interface StartedCliLogin {
  loginId: string;
  userCode: string;
  /** Where the user goes, with the code in it. */
  verificationUrl: string;
  /** The same page without the code (RFC 8628 `verification_uri`). */
  verificationUri: string;
  expiresAtMs: number;
  intervalSeconds: number;
  projectId: string;
}

/** Fresh user codes tried before giving up (a clash among pending logins is already unlikely at 20^8 codes). */
const USER_CODE_ATTEMPTS = 5;

export async function startCliLogin(
  deps: CliLoginDeps,
  input: NewCliLogin,
  context: RequestContext,
  nowMilliseconds: number,
): Promise<StartedCliLogin> {
  const reader = deps.storage.reader;
  const project =
    input.projectId === undefined ? await findDefaultProject(reader) : await findProject(reader, input.projectId);
  // A deleted project is answered like an unknown one: this route is unauthenticated.
  if (!project || project.deletedAtMs !== null) {
    throw new AppError("NOT_FOUND", {
      message: "No such project.",
      details: [{ path: input.projectNamedBy, message: "no project has this id" }],
    });
  }
  const tenantRefusal = decideTenantAccess((await findTenant(reader, project.tenantId))!, "cli_login");
  if (tenantRefusal) throw tenantRefusal;
  if (input.callbackUrl !== undefined) {
    const check = checkCallbackUrl(input.callbackUrl, project);
    if (!check.ok) {
      throw new AppError("VALIDATION_FAILED", { details: [{ path: "callbackUrl", message: check.reason }] });
    }
  }
  const loginId = newLoginId();
  const idHash = hashLoginId(loginId);
  const expiresAtMs = nowMilliseconds + project.cliSessionTtlSeconds * 1000;
  const userCode = await deps.storage.writeTransaction(async (tx) => {
    let code = newUserCode();
    for (let attempt = 1; await store.isPendingUserCodeTaken(tx, code); attempt++) {
      if (attempt >= USER_CODE_ATTEMPTS) throw new Error("could not find a free user code");
      code = newUserCode();
    }
    await store.insertCliLogin(tx, {
      idHash,
      projectId: project.id,
      status: "pending",
      userCode: code,
      deviceName: input.deviceName ?? null,
      callbackUrl: input.callbackUrl ?? null,
      codeChallenge: input.codeChallenge ?? null,
      requestedScopes: input.scopes ? [...new Set(input.scopes)] : null,
      requesterIp: context.ip,
      requesterUserAgent: context.userAgent,
      sealingPublicKey: sealingPublicKeyFor(loginId),
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
    await recordLoginEvent(tx, auditActorOf(null, context), "cli_session.created", project, idHash, nowMilliseconds, {
      device_name: input.deviceName ?? null,
      callback_url: input.callbackUrl ?? null,
      pkce: input.codeChallenge !== undefined,
      scopes: input.scopes ?? null,
    });
    return code;
  });
  const verificationUri = project.verificationUrl ?? `${deps.settings.publicUrl}/device`;
  const url = new URL(verificationUri);
  url.searchParams.set("code", displayUserCode(userCode));
  return {
    loginId,
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
export async function pollCliLogin(
  deps: CliLoginDeps,
  loginId: string,
  codeVerifier: string | null,
  context: RequestContext,
  nowMilliseconds: number,
): Promise<PollOutcome> {
  const login = await loginHeldBy(deps.storage, loginId, codeVerifier);
  const status = await expireIfLapsed(deps, login, context, nowMilliseconds);
  if (!(await deps.storage.writeTransaction((tx) => store.recordPoll(tx, login.idHash, nowMilliseconds)))) {
    const pace = pollPace(login.lastPolledAtMs, login.pollIntervalSeconds, nowMilliseconds);
    return { status: "too_fast", retryAfterSeconds: pace.ok ? 1 : pace.retryAfterSeconds };
  }
  if (status === "pending") return { status: "pending", deviceName: login.deviceName };
  if (status !== "approved" || login.sealedKey === null) return { status: "expired" };
  const apiKey = await open(login.sealedKey, loginId);
  // A box this id cannot open (one sealed in an earlier format, during an upgrade) holds nothing to hand over.
  if (apiKey === null) return { status: "expired" };
  await deps.storage.writeTransaction((tx) => store.markFirstDelivery(tx, login.idHash, nowMilliseconds));
  return { status: "completed", apiKey };
}

/** DELETE from the CLI: cancels a pending login, or acknowledges a delivered key (which is then wiped). */
export async function closeCliLogin(
  deps: CliLoginDeps,
  loginId: string,
  codeVerifier: string | null,
  context: RequestContext,
  nowMilliseconds: number,
): Promise<void> {
  const login = await loginHeldBy(deps.storage, loginId, codeVerifier);
  const status = await expireIfLapsed(deps, login, context, nowMilliseconds);
  const project = (await findProject(deps.storage.reader, login.projectId))!;
  const actor = auditActorOf(null, context);
  await deps.storage.writeTransaction(async (tx) => {
    if (status === "pending" && (await store.markDenied(tx, login.idHash, "cli", nowMilliseconds))) {
      await recordLoginEvent(tx, actor, "cli_session.denied", project, login.idHash, nowMilliseconds, { by: "cli" });
    } else if (status === "approved" && (await store.markDelivered(tx, login.idHash))) {
      await recordLoginEvent(tx, actor, "cli_session.delivered", project, login.idHash, nowMilliseconds, {
        key_id: login.keyId,
      });
    }
  });
}

/** The login the CLI's id opens; with PKCE, only together with the verifier. Denied logins are gone for the CLI. */
async function loginHeldBy(storage: Storage, loginId: string, codeVerifier: string | null): Promise<CliLoginRow> {
  const login = isLoginIdShaped(loginId) ? await store.findCliLogin(storage.reader, hashLoginId(loginId)) : undefined;
  if (!login || login.status === "denied") throw new AppError("NOT_FOUND", { message: "No such login session." });
  if (login.codeChallenge !== null) {
    if (codeVerifier === null) {
      throw new AppError("VALIDATION_FAILED", {
        message: "This session was started with a code challenge: send its verifier.",
        details: [{ path: "X-Code-Verifier", message: "is required" }],
      });
    }
    if (!verifierMatches(login.codeChallenge, codeVerifier)) {
      throw new AppError("VALIDATION_FAILED", {
        details: [{ path: "X-Code-Verifier", message: "does not match the code challenge" }],
      });
    }
  }
  return login;
}
