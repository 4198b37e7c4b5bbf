/**
 * "May this request run?" for the host API (POST /v1/keys/verify, JSON, always 200) and for the proxy in front of it
 * (/v1/authz, forward-auth: 200 with identity headers, or 401/403/429 with the error body). Both run the same
 * admission as latchkey's own routes: the documented decision order, the key's bucket, usage batched in memory.
 */
import { z } from "zod";
import { AppError, ERROR_CODES, type ErrorDetail } from "../errors.ts";
import { type AdmissionOutcome, admitRequest } from "../http/admission.ts";
import { presentedBy } from "../http/authenticate.ts";
import { type HttpMethod, route } from "../http/route.ts";
import { IsoDateTime } from "../http/wire.ts";
import { toIsoStringOrNull } from "../lib/clock.ts";
import { toHeaderValue } from "../lib/header-value.ts";
import { Scope } from "../keys/schemas.ts";
import { SCOPE_PATTERN } from "../keys/scopes.ts";
import { MAX_SESSION_TOKEN_LENGTH } from "../sessions/tokens.ts";
import type { Principal } from "./principal.ts";

const VerifyBody = z
  .strictObject({
    key: z.string().min(1).max(4096).optional().describe("An API key to check."),
    token: z
      .string()
      .min(1)
      .max(MAX_SESSION_TOKEN_LENGTH * 2)
      .optional()
      .describe("Or a session token to check."),
    scopes: z.array(Scope).max(64).optional().describe("Scopes the request needs; all must be held."),
    origin: z.string().max(2048).optional().describe("The browser Origin the credential was presented from, if any."),
  })
  .refine((body) => (body.key === undefined) !== (body.token === undefined), {
    message: "send exactly one of key or token",
    path: ["key"],
  });

const RateLimitState = z.object({
  limit: z.number().int(),
  remaining: z.number().int(),
  reset: z.number().int().describe("Unix milliseconds at which the bucket is full again."),
});

const VerifyResult = z.object({
  valid: z.boolean(),
  code: z.enum(["VALID", ...ERROR_CODES] as [string, ...string[]]),
  key_id: z.string().nullable(),
  project_id: z.string().nullable(),
  tenant_id: z.string().nullable(),
  owner: z.string().nullable().describe("The key's owner; for a session token, its end user (sub)."),
  scopes: z.array(z.string()),
  expires_at: IsoDateTime.nullable(),
  ratelimit: RateLimitState.nullable(),
  details: z
    .array(z.object({ path: z.string(), message: z.string() }))
    .describe("What the refusal is about, as in error bodies: e.g. each missing scope for SCOPE_NOT_GRANTED."),
});

// Elysia hands a comma-separated or repeated query value over as an array, a single one as a string: take both.
const ScopesParameter = z.union([z.string().max(64 * 130), z.array(z.string().max(64 * 130)).max(64)]);

/**
 * The scope list of a forward-auth request. This runs on every proxied request, so the check is the scope pattern
 * itself rather than a schema per item; the messages are the ones the Scope schema gives.
 */
function parseScopeList(value: string | string[] | undefined, context: z.RefinementCtx): string[] {
  const scopes: string[] = [];
  for (const part of value === undefined ? [] : typeof value === "string" ? [value] : value) {
    for (const raw of part.split(",")) {
      const scope = raw.trim();
      if (scope !== "") scopes.push(scope);
    }
  }
  if (scopes.length > 64) context.addIssue({ code: "custom", message: "must list at most 64 scopes" });
  scopes.forEach((scope, index) => {
    if (scope.length > 129 || scope.includes("*") || !SCOPE_PATTERN.test(scope)) {
      context.addIssue({ code: "custom", path: [index], message: Scope.safeParse(scope).error!.issues[0]!.message });
    }
  });
  return scopes;
}

const AuthzQuery = z.object({
  scopes: ScopesParameter.optional()
    .describe("Comma-separated scopes the request needs, e.g. runs:read,runs:write.")
    .transform(parseScopeList),
});

const Authorization = z.object({
  object: z.literal("authorization"),
  allowed: z.literal(true),
  key_id: z.string(),
  project_id: z.string(),
  tenant_id: z.string(),
  subject: z.string(),
  scopes: z.array(z.string()),
});

function identityOf(principal: Principal | null) {
  return {
    key_id: principal?.keyId ?? null,
    project_id: principal?.projectId ?? null,
    tenant_id: principal?.tenantId ?? null,
    owner: principal === null ? null : principal.kind === "session" ? principal.subject : principal.owner,
    scopes: principal ? [...principal.scopes] : [],
    expires_at: toIsoStringOrNull(principal?.expiresAtMs ?? null),
  };
}

/**
 * The identity a proxy copies onto the request it forwards. Every value goes through the header encoder: an end
 * user's id is whatever the host app chose (日本, zoë, an emoji) and must arrive as valid ASCII, percent-encoded.
 */
function identityHeaders(principal: Principal): Record<string, string> {
  return {
    "x-latchkey-key-id": toHeaderValue(principal.keyId),
    "x-latchkey-project-id": toHeaderValue(principal.projectId),
    "x-latchkey-tenant-id": toHeaderValue(principal.tenantId),
    "x-latchkey-subject": toHeaderValue(principal.subject),
    "x-latchkey-scopes": toHeaderValue(principal.scopes.join(",")),
  };
}

const METHOD_HEADERS = ["x-forwarded-method", "x-original-method"] as const;
const METHOD_TOKEN = /^[A-Za-z]{1,20}$/;

/**
 * The method of the request behind the proxy, which the browser rule is decided on: X-Forwarded-Method (Traefik,
 * Caddy) or X-Original-Method (nginx), else forward-auth's own method (Envoy sends the original one). The shipped
 * proxy configurations set these headers themselves, overwriting any a client sent; if the two still disagree,
 * something between the client and latchkey passed a client's copy through, and the request is refused rather than
 * decided on a guess.
 */
function originalMethodOf(headers: Headers, ownMethod: string): string {
  const named = METHOD_HEADERS.flatMap((header) => {
    const value = headers.get(header);
    return value === null ? [] : [{ header, value: value.trim() }];
  });
  for (const { header, value } of named) {
    if (!METHOD_TOKEN.test(value)) {
      throw new AppError("VALIDATION_FAILED", { details: [{ path: header, message: "must be one HTTP method" }] });
    }
  }
  if (named.length === 2 && named[0]!.value.toUpperCase() !== named[1]!.value.toUpperCase()) {
    throw new AppError("VALIDATION_FAILED", {
      message: "The request names two different original methods.",
      details: [{ path: "x-forwarded-method", message: "must agree with x-original-method" }],
    });
  }
  return named[0]?.value.toUpperCase() ?? ownMethod;
}

const FORWARD_AUTH_METHODS: HttpMethod[] = ["GET", "POST", "PUT", "PATCH", "DELETE"];
// Envoy's HTTP ext_authz appends the original path to its path prefix, so forward-auth also answers below it.
const FORWARD_AUTH_PATHS = ["/v1/authz", "/v1/authz/*"];
const REQUIRED_SCOPES_HEADER = "x-latchkey-required-scopes";

/**
 * Required scopes from `?scopes=` and from the X-Latchkey-Required-Scopes header a proxy can set, united: a client
 * that adds either can only make its own request stricter.
 */
function requiredScopes(fromQuery: string[], headers: Headers): string[] {
  const header = headers.get(REQUIRED_SCOPES_HEADER);
  if (header === null) return fromQuery;
  const fromHeader = AuthzQuery.shape.scopes.safeParse(header);
  if (!fromHeader.success) {
    throw new AppError("VALIDATION_FAILED", {
      details: fromHeader.error.issues.map((issue) => ({
        path: `${REQUIRED_SCOPES_HEADER}${issue.path.length > 0 ? `[${String(issue.path[0])}]` : ""}`,
        message: issue.message,
      })),
    });
  }
  return [...new Set([...fromQuery, ...fromHeader.data])];
}

export const verifyRoutes = [
  route({
    method: "POST",
    path: "/v1/keys/verify",
    operationId: "verifyCredential",
    summary: "Check an API key or session token for the host API; always 200 with valid and the deciding code.",
    description:
      "The decision order is the documented one; a valid credential spends one token of its key's bucket. " +
      "`code` is VALID or the catalogue code that refused it. Only a malformed request body is a 400. " +
      "Send X-Project-Id to refuse credentials of any other project as API_KEY_INVALID. The root key is refused " +
      "(ROOT_KEY_NOT_ALLOWED): it manages latchkey and is no credential for an API. Refusals of a known credential " +
      "still name it (key_id, scopes, ...) and say why in `details`.",
    tags: ["verify"],
    credential: "none",
    headers: ["X-Project-Id"],
    body: VerifyBody,
    responses: { 200: VerifyResult },
    handle: async ({ deps, body, request, nowMilliseconds, responseHeaders }) => {
      const presented = {
        secret: body.key ?? null,
        sessionToken: body.token ?? null,
        origin: body.origin ?? null,
        projectId: request.headers.get("x-project-id"),
      };
      const outcome: AdmissionOutcome = { principal: null, rateLimit: null };
      let code = "VALID";
      let details: ErrorDetail[] = [];
      try {
        await admitRequest(
          deps,
          { credential: "key_or_session", module: "verify", scopes: body.scopes, dataPlane: true },
          // The host API is the caller: its address must not collect its end users' failures. It asks about a
          // credential, not on behalf of a browser request, so the request is taken as a read: the browser rule is
          // the host API's to apply with `origin` and its own method, and it learns of it from the answer.
          { method: "GET", presented, clientIp: null },
          nowMilliseconds,
          responseHeaders,
          outcome,
        );
      } catch (error) {
        if (!(error instanceof AppError)) throw error;
        code = error.code;
        details = error.details;
      }
      deps.metrics.recordVerification(code);
      const rateLimit = outcome.rateLimit;
      return {
        valid: code === "VALID",
        code,
        ...identityOf(outcome.principal),
        ratelimit:
          rateLimit === null
            ? null
            : { limit: rateLimit.limit, remaining: rateLimit.remaining, reset: rateLimit.resetAtMs },
        details,
      };
    },
  }),
  ...FORWARD_AUTH_PATHS.flatMap((path) =>
    FORWARD_AUTH_METHODS.map((method) =>
      route({
        method,
        path,
        operationId: `forwardAuth${method[0]}${method.slice(1).toLowerCase()}${path.endsWith("*") ? "Below" : ""}`,
        summary: `Forward-auth for proxies (${method}${path.endsWith("*") ? ", any path below, for Envoy" : ""}): may the request behind this one run?`,
        description:
          "For nginx auth_request, Traefik ForwardAuth, Caddy forward_auth and Envoy ext_authz. Reads Authorization, " +
          "X-Session-Token and Origin from the request, the original method from X-Forwarded-Method or " +
          "X-Original-Method, and the required scopes from `?scopes=` and X-Latchkey-Required-Scopes (united). " +
          "Allowed: 200 with X-Latchkey-Key-Id, " +
          "X-Latchkey-Project-Id, X-Latchkey-Tenant-Id, X-Latchkey-Subject, X-Latchkey-Scopes and the rate-limit fields. " +
          "Identity values are percent-encoded UTF-8 (RFC 3986): decodeURIComponent restores them. " +
          "Refused: 401, 403 or 429 with the error body and X-Latchkey-Error; 400 when the two method headers disagree. " +
          "The root key is refused (403 ROOT_KEY_NOT_ALLOWED): it manages latchkey and is no credential for an API.",
        tags: ["verify"],
        credential: "forwarded",
        headers: ["Origin", "X-Forwarded-Method", "X-Original-Method", "X-Latchkey-Required-Scopes"],
        query: AuthzQuery,
        responses: { 200: Authorization },
        handle: async ({ deps, query, request, nowMilliseconds, responseHeaders }) => {
          let principal: Principal;
          try {
            principal = await admitRequest(
              deps,
              {
                credential: "key_or_session",
                module: "verify",
                scopes: requiredScopes(query.scopes, request.headers),
                dataPlane: true,
              },
              {
                method: originalMethodOf(request.headers, method),
                presented: presentedBy(request.headers),
                clientIp: request.ip,
              },
              nowMilliseconds,
              responseHeaders,
            );
          } catch (error) {
            if (error instanceof AppError) {
              deps.metrics.recordVerification(error.code);
              // A proxy drops the body of an auth answer; this header lets it rebuild the error body for the client.
              responseHeaders["x-latchkey-error"] = error.code;
            }
            throw error;
          }
          deps.metrics.recordVerification("VALID");
          Object.assign(responseHeaders, identityHeaders(principal));
          return {
            object: "authorization" as const,
            allowed: true as const,
            key_id: principal.keyId,
            project_id: principal.projectId,
            tenant_id: principal.tenantId,
            subject: principal.subject,
            scopes: [...principal.scopes],
          };
        },
      }),
    ),
  ),
];
