/**
 * CLI login over HTTP: the three routes a CLI speaks (keeping the `{success:false, msg, code}` error envelope its
 * clients already parse), approval and denial by the host app or the user's browser, the built-in approval page,
 * and the RFC 8628 device grant for standard clients.
 */
import { z } from "zod";
import {
  approveCliLogin,
  denyCliLogin,
  describeCliLoginForApproval,
  type LoginTarget,
} from "../../domain/cli-login/approval.ts";
import { closeCliLogin, pollCliLogin, startCliLogin } from "../../domain/cli-login/cli.ts";
import { type DeviceTokenOutcome, exchangeDeviceCode } from "../../domain/cli-login/device-grant.ts";
import { MAX_SCOPES_PER_KEY, RESERVED_SCOPES, SCOPE_PATTERN } from "../../domain/keys/scopes.ts";
import { BUCKET_KINDS, bucketName } from "../../domain/ratelimit/buckets.ts";
import { rateLimitHeaders } from "../../domain/ratelimit/headers.ts";
import type { AppDeps } from "../../http/app-deps.ts";
import { type HandlerRequest, RATE_LIMIT_HEADERS, route } from "../../http/route.ts";
import { CliErrorResponse, ErrorResponse, OAuthErrorResponse } from "../../http/wire.ts";
import { toIsoString } from "../../lib/clock.ts";
import { AppError, OAuthError } from "../../lib/errors.ts";
import { idPattern } from "../../lib/ids.ts";
import { APPROVAL_PAGE, APPROVAL_PAGE_HEADERS } from "./page.ts";
import {
  ApproveBody,
  ApprovedCliSession,
  CliPoll,
  CliSessionForApproval,
  CliSessionParams,
  CliSuccess,
  CreateCliSessionBody,
  CreatedCliSession,
  DeniedCliSession,
  DeviceCodeForm,
  DeviceCodeResponse,
  TokenForm,
  TokenResponse,
  UserCodeParams,
} from "./schemas.ts";

const DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";

/** Starting a login is unauthenticated, so each client address may start only so many a minute. */
async function limitStarts(
  deps: AppDeps,
  request: HandlerRequest,
  nowMilliseconds: number,
  responseHeaders: Record<string, string>,
) {
  if (request.ip === null) return;
  const policy = deps.settings.cliStartPolicy;
  const bucket = bucketName(BUCKET_KINDS.cliStarts, request.ip);
  const decision = await deps.rateLimiter.take(bucket, policy, nowMilliseconds);
  Object.assign(responseHeaders, rateLimitHeaders(BUCKET_KINDS.cliStarts, policy, decision, nowMilliseconds));
  if (!decision.allowed)
    throw new AppError("RATE_LIMITED", { message: "Too many login sessions started from this address." });
}

/** The wire names a login by its `sessionId` (the CLI contract's word) or its user code. */
function targetOf(params: { sessionId: string } | { userCode: string }): LoginTarget {
  return "sessionId" in params ? { loginId: params.sessionId } : { userCode: params.userCode };
}

const TARGET_WORDS = { sessionId: "by session id", userCode: "by the user code" } as const;

const approvalRoutes = (["sessionId", "userCode"] as const).flatMap((by) => {
  const path = by === "sessionId" ? "/v1/api/auth/sessions/:sessionId" : "/v1/api/auth/codes/:userCode";
  const params = by === "sessionId" ? CliSessionParams : UserCodeParams;
  const suffix = by === "sessionId" ? "" : "ByCode";
  return [
    route({
      method: "POST",
      path: `${path}/approve`,
      operationId: `approveCliSession${suffix}`,
      summary: `Approve a pending CLI login (${TARGET_WORDS[by]}): mints the CLI's key.`,
      description:
        "With an API key holding cli:approve (the host app's server, naming user_id) or an end-user session token " +
        "holding it (the browser; the user is the token's subject). The key is owned by that user, named after the " +
        "device, with scopes no wider than the approver's, and expires after the project's CLI key lifetime unless " +
        "expires_at says otherwise. A session that is not pending is 409; exactly one approval ever succeeds." +
        (by === "userCode"
          ? " Wrong codes are limited per approving key (a token counts against its parent key), per client address " +
            "and per project within a session lifetime; past a limit, 429."
          : ""),
      tags: ["cli-login"],
      credential: "key_or_session",
      scopes: [RESERVED_SCOPES.cliApprove],
      module: "cli_login",
      params,
      body: ApproveBody,
      responses: { 200: ApprovedCliSession, 404: ErrorResponse, 409: ErrorResponse },
      handle: async ({ deps, principal, actor, params: target, body, nowMilliseconds }) => {
        const approved = await approveCliLogin(
          deps,
          principal,
          actor,
          targetOf(target),
          {
            userId: body.user_id,
            scopes: body.scopes,
            expiresAtMs: body.expires_at === undefined ? undefined : Date.parse(body.expires_at),
          },
          nowMilliseconds,
        );
        return {
          object: "cli_session" as const,
          status: "approved" as const,
          key_id: approved.keyId,
          owner: approved.owner,
          scopes: approved.scopes,
          expires_at: toIsoString(approved.expiresAtMs),
          callback_url: approved.callbackUrl,
        };
      },
    }),
    route({
      method: "POST",
      path: `${path}/deny`,
      operationId: `denyCliSession${suffix}`,
      summary: `Deny a pending CLI login (${TARGET_WORDS[by]}); the CLI's next poll answers 404.`,
      tags: ["cli-login"],
      credential: "key_or_session",
      scopes: [RESERVED_SCOPES.cliApprove],
      module: "cli_login",
      params,
      responses: { 200: DeniedCliSession, 404: ErrorResponse, 409: ErrorResponse },
      handle: async ({ deps, principal, actor, params: target, nowMilliseconds }) => {
        const denied = await denyCliLogin(deps, principal, actor, targetOf(target), nowMilliseconds);
        return { object: "cli_session" as const, status: "denied" as const, callback_url: denied.callbackUrl };
      },
    }),
  ];
});

/** RFC 8628's two endpoints, which the discovery document names too. */
export const DEVICE_AUTHORIZATION_PATH = "/oauth/device/code";
export const TOKEN_PATH = "/oauth/token";

export const cliLoginRoutes = [
  route({
    method: "POST",
    path: "/v1/api/auth/sessions",
    operationId: "createCliSession",
    summary: "Start a CLI login: answers 201 with the session id to poll, the URL and code to show the user.",
    description:
      "Unauthenticated (rate-limited per client address). Name the project with X-Project-Id; without it, the " +
      "default project. Errors use {success:false, msg, code}.",
    tags: ["cli-login"],
    credential: "none",
    errorFormat: "cli",
    headers: ["X-Project-Id"],
    body: CreateCliSessionBody,
    responses: { 201: CreatedCliSession, 403: CliErrorResponse, 404: CliErrorResponse, 429: CliErrorResponse },
    answerHeaders: { 201: RATE_LIMIT_HEADERS, 429: RATE_LIMIT_HEADERS },
    handle: async ({ deps, body, request, nowMilliseconds, responseHeaders }) => {
      await limitStarts(deps, request, nowMilliseconds, responseHeaders);
      const created = await startCliLogin(
        deps,
        {
          projectId: request.headers.get("x-project-id") ?? undefined,
          projectNamedBy: "X-Project-Id",
          deviceName: body.deviceName,
          callbackUrl: body.callbackUrl,
          codeChallenge: body.codeChallenge,
          scopes: body.scopes,
        },
        request,
        nowMilliseconds,
      );
      return {
        sessionId: created.loginId,
        verificationUrl: created.verificationUrl,
        expiresAt: toIsoString(created.expiresAtMs),
        userCode: created.userCode,
        interval: created.intervalSeconds,
      };
    },
  }),
  route({
    method: "GET",
    path: "/v1/api/auth/sessions/:sessionId",
    operationId: "pollCliSession",
    summary: "Poll a CLI login: pending (with the device name), completed (with the API key), or expired.",
    description:
      "A denied or unknown session is 404. Polling faster than the session's interval is 429 with Retry-After. " +
      "With PKCE, send the verifier as X-Code-Verifier. The key is handed over until the CLI acknowledges it " +
      "(DELETE) or 60 seconds after it was first handed over; after that the session answers expired.",
    tags: ["cli-login"],
    credential: "none",
    errorFormat: "cli",
    headers: ["X-Code-Verifier"],
    params: CliSessionParams,
    responses: { 200: CliPoll, 404: CliErrorResponse, 429: CliErrorResponse },
    handle: async ({ deps, params, request, nowMilliseconds, responseHeaders }) => {
      const outcome = await pollCliLogin(
        deps,
        params.sessionId,
        request.headers.get("x-code-verifier"),
        request,
        nowMilliseconds,
      );
      if (outcome.status === "too_fast") {
        responseHeaders["retry-after"] = String(outcome.retryAfterSeconds);
        throw new AppError("RATE_LIMITED", { message: "Polled faster than the session's interval." });
      }
      return outcome;
    },
  }),
  route({
    method: "DELETE",
    path: "/v1/api/auth/sessions/:sessionId",
    operationId: "closeCliSession",
    summary:
      "The CLI ends its login: cancels it while pending, or acknowledges the key it saved (which is then wiped).",
    tags: ["cli-login"],
    credential: "none",
    errorFormat: "cli",
    headers: ["X-Code-Verifier"],
    params: CliSessionParams,
    responses: { 200: CliSuccess, 404: CliErrorResponse },
    handle: async ({ deps, params, request, nowMilliseconds }) => {
      await closeCliLogin(deps, params.sessionId, request.headers.get("x-code-verifier"), request, nowMilliseconds);
      return { success: true as const };
    },
  }),
  route({
    method: "GET",
    path: "/v1/api/auth/codes/:userCode",
    operationId: "getCliSessionByCode",
    summary:
      "What an approver is about to approve: project, device, code, requesting address and program, time, scopes, " +
      "and where the browser goes next.",
    description: "A wrong code counts against the same limits as approving by code.",
    tags: ["cli-login"],
    credential: "key_or_session",
    scopes: [RESERVED_SCOPES.cliApprove],
    module: "cli_login",
    params: UserCodeParams,
    responses: { 200: CliSessionForApproval, 404: ErrorResponse },
    handle: async ({ deps, principal, params, request, nowMilliseconds }) => {
      const session = await describeCliLoginForApproval(deps, principal, request.ip, params.userCode, nowMilliseconds);
      return {
        object: "cli_session" as const,
        status: session.status,
        device_name: session.deviceName,
        user_code: session.userCode,
        requester_ip: session.requesterIp,
        requester_user_agent: session.requesterUserAgent,
        created_at: toIsoString(session.createdAtMs),
        expires_at: toIsoString(session.expiresAtMs),
        scopes: session.scopes,
        project: session.project,
        callback_host: session.callbackHost,
      };
    },
  }),
  ...approvalRoutes,
  route({
    method: "GET",
    path: "/device",
    operationId: "cliApprovalPage",
    summary: "The built-in approval page: /device?code=XXXX-XXXX#token=<end-user session token with cli:approve>.",
    tags: ["cli-login"],
    credential: "none",
    responses: { 200: z.string().describe("An HTML page.") },
    handle: async ({ responseHeaders }) => {
      Object.assign(responseHeaders, APPROVAL_PAGE_HEADERS);
      return APPROVAL_PAGE;
    },
  }),
  route({
    method: "POST",
    path: DEVICE_AUTHORIZATION_PATH,
    operationId: "deviceAuthorization",
    summary: "RFC 8628 device authorization: client_id is the project id; scope is space-separated.",
    tags: ["cli-login"],
    credential: "none",
    errorFormat: "oauth",
    bodyFormat: "form",
    body: DeviceCodeForm,
    responses: { 200: DeviceCodeResponse, 401: OAuthErrorResponse, 403: OAuthErrorResponse, 429: OAuthErrorResponse },
    answerHeaders: { 200: RATE_LIMIT_HEADERS, 429: RATE_LIMIT_HEADERS },
    handle: async ({ deps, body, request, nowMilliseconds, responseHeaders }) => {
      const scopes = body.scope === undefined ? undefined : body.scope.split(" ").filter((scope) => scope !== "");
      if (scopes?.some((scope) => !SCOPE_PATTERN.test(scope)) || (scopes?.length ?? 0) > MAX_SCOPES_PER_KEY) {
        throw new OAuthError("invalid_scope", `Scopes are lower-case resource:action, at most ${MAX_SCOPES_PER_KEY}.`);
      }
      if (!idPattern("project").test(body.client_id)) throw new OAuthError("invalid_client", "Unknown client_id.", 401);
      await limitStarts(deps, request, nowMilliseconds, responseHeaders);
      const created = await startCliLogin(
        deps,
        { projectId: body.client_id, projectNamedBy: "client_id", scopes: scopes?.length ? scopes : undefined },
        request,
        nowMilliseconds,
      );
      return {
        device_code: created.loginId,
        user_code: created.userCode,
        verification_uri: created.verificationUri,
        verification_uri_complete: created.verificationUrl,
        expires_in: Math.round((created.expiresAtMs - nowMilliseconds) / 1000),
        interval: created.intervalSeconds,
      };
    },
  }),
  route({
    method: "POST",
    path: TOKEN_PATH,
    operationId: "deviceAccessToken",
    summary: "RFC 8628 token request (grant_type=urn:ietf:params:oauth:grant-type:device_code): the API key, once.",
    description:
      "Errors are the RFC's, as 400: authorization_pending, slow_down (wait five more seconds from now on), " +
      "access_denied, expired_token, invalid_grant, unsupported_grant_type.",
    tags: ["cli-login"],
    credential: "none",
    errorFormat: "oauth",
    bodyFormat: "form",
    body: TokenForm,
    responses: { 200: TokenResponse },
    handle: async ({ deps, body, request, nowMilliseconds }) => {
      if (body.grant_type !== DEVICE_CODE_GRANT) {
        throw new OAuthError("unsupported_grant_type", "Only the device_code grant is supported.");
      }
      if (body.device_code === undefined || body.client_id === undefined) {
        throw new OAuthError("invalid_request", "device_code and client_id are required.");
      }
      const outcome = await exchangeDeviceCode(deps, body.device_code, body.client_id, request, nowMilliseconds);
      if (!outcome.ok) throw new OAuthError(outcome.error, DEVICE_ERRORS[outcome.error]);
      return { access_token: outcome.accessToken, token_type: "Bearer" as const, scope: outcome.scopes.join(" ") };
    },
  }),
];

const DEVICE_ERRORS: Record<Exclude<DeviceTokenOutcome, { ok: true }>["error"], string> = {
  authorization_pending: "The user has not approved yet.",
  slow_down: "Polled too fast: wait five seconds more between requests from now on.",
  access_denied: "The user denied the request.",
  expired_token: "The device code has expired.",
  invalid_grant: "The device code is not valid (unknown, for another client, or already used).",
};
