/**
 * Forward-auth for the proxy in front of the host API (nginx auth_request, Traefik ForwardAuth, Caddy forward_auth,
 * Envoy ext_authz): /v1/authz and any path below it answer 200 with the identity headers, or 401/403/429 with the
 * error body and X-Latchkey-Error (a proxy drops auth bodies; the code lets it rebuild one). The method the browser
 * rule is decided on is the original request's, which the proxy names in a header.
 */
import { admit, writeBucketFields } from "../../auth/admission.ts";
import { type AccessSpec, presentedBy } from "../../auth/authenticate.ts";
import type { Principal } from "../../auth/principal.ts";
import type { ScopeQuery } from "../../domain/keys/scope-query.ts";
import { type HttpMethod, RATE_LIMIT_HEADERS, type ResponseHeader, route } from "../../http/route.ts";
import { AppError } from "../../lib/errors.ts";
import { toHeaderValue } from "../../lib/header-value.ts";
import { Authorization, AuthzQuery, ScopeQueryText } from "./schemas.ts";

/**
 * The identity a proxy copies onto the request it forwards. Every value goes through the header encoder: an end
 * user's id is whatever the host app chose (日本, zoë, an emoji) and must arrive as valid ASCII, percent-encoded.
 */
export function identityHeaders(principal: Principal, headers: Record<string, string> = {}): Record<string, string> {
  headers["x-latchkey-key-id"] = toHeaderValue(principal.keyId);
  headers["x-latchkey-project-id"] = toHeaderValue(principal.projectId);
  headers["x-latchkey-tenant-id"] = toHeaderValue(principal.tenantId);
  headers["x-latchkey-subject"] = toHeaderValue(principal.subject);
  headers["x-latchkey-scopes"] = toHeaderValue(principal.scopes.join(","));
  return headers;
}

/** The body of an allowed forward-auth answer. */
export function authorizationOf(principal: Principal) {
  return {
    object: "authorization" as const,
    allowed: true as const,
    key_id: principal.keyId,
    project_id: principal.projectId,
    tenant_id: principal.tenantId,
    subject: principal.subject,
    scopes: [...principal.scopes],
  };
}

export const METHOD_HEADERS = ["x-forwarded-method", "x-original-method"] as const;
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
  if (named.length === 2 && named[0]!.value !== named[1]!.value) {
    throw new AppError("VALIDATION_FAILED", {
      message: "The request names two different original methods.",
      details: [{ path: "x-forwarded-method", message: "must agree with x-original-method" }],
    });
  }
  // Taken as written: method names are case-sensitive, and the browser rule counts an unknown one as a write.
  return named[0]?.value ?? ownMethod;
}

const IDENTITY_HEADERS: ResponseHeader[] = [
  "X-Latchkey-Key-Id",
  "X-Latchkey-Project-Id",
  "X-Latchkey-Tenant-Id",
  "X-Latchkey-Subject",
  "X-Latchkey-Scopes",
];
const REFUSAL_HEADERS: ResponseHeader[] = ["X-Latchkey-Error"];

const FORWARD_AUTH_METHODS: HttpMethod[] = ["GET", "POST", "PUT", "PATCH", "DELETE"];
// Envoy's HTTP ext_authz appends the original path to its path prefix, so forward-auth also answers below it.
const FORWARD_AUTH_PATHS = ["/v1/authz", "/v1/authz/*"];
/** What verification and forward-auth ask of a credential: the data plane's question, under the verify module. */
export const DATA_PLANE: AccessSpec = { credential: "key_or_session", module: "verify", dataPlane: true };

export const REQUIRED_SCOPES_HEADER = "x-latchkey-required-scopes";
export const SCOPE_QUERY_HEADER = "x-latchkey-scope-query";

/**
 * The scope query of `?scope_query=` and of the X-Latchkey-Scope-Query header a proxy can set: both must hold when
 * both are sent (as with scopes, a client can only make its own request stricter).
 */
function requiredScopeQuery(fromQuery: ScopeQuery | undefined, headers: Headers): ScopeQuery | undefined {
  const header = headers.get(SCOPE_QUERY_HEADER);
  if (header === null) return fromQuery;
  const fromHeader = ScopeQueryText.safeParse(header);
  if (!fromHeader.success) {
    throw new AppError("VALIDATION_FAILED", {
      details: fromHeader.error.issues.map((issue) => ({ path: SCOPE_QUERY_HEADER, message: issue.message })),
    });
  }
  return fromQuery === undefined ? fromHeader.data : { kind: "and", parts: [fromQuery, fromHeader.data] };
}

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

export const forwardAuthRoutes = [
  ...FORWARD_AUTH_PATHS.flatMap((path) =>
    FORWARD_AUTH_METHODS.map((method) =>
      route({
        method,
        path,
        operationId: `forwardAuth${method[0]}${method.slice(1).toLowerCase()}${path.endsWith("*") ? "Below" : ""}`,
        summary:
          `Forward-auth for proxies (${method}${path.endsWith("*") ? ", any path below, for Envoy" : ""}): ` +
          "may the request behind this one run?",
        description:
          "For nginx auth_request, Traefik ForwardAuth, Caddy forward_auth and Envoy ext_authz. Reads Authorization, " +
          "X-Session-Token and Origin from the request, the original method from X-Forwarded-Method or " +
          "X-Original-Method, and the required scopes from `?scopes=` and X-Latchkey-Required-Scopes (united), " +
          "and a scope query from `?scope_query=` and X-Latchkey-Scope-Query (both must hold). " +
          "Allowed: 200 with X-Latchkey-Key-Id, " +
          "X-Latchkey-Project-Id, X-Latchkey-Tenant-Id, X-Latchkey-Subject, X-Latchkey-Scopes and the rate-limit " +
          "fields. " +
          "Identity values are percent-encoded UTF-8 (RFC 3986): decodeURIComponent restores them. " +
          "Refused: 401, 403 or 429 with the error body and X-Latchkey-Error; 400 when the two method headers " +
          "disagree. " +
          "The root key is refused (403 ROOT_KEY_NOT_ALLOWED): it manages latchkey and is no credential for an API.",
        tags: ["verify"],
        credential: "forwarded",
        headers: [
          "Origin",
          "X-Forwarded-Method",
          "X-Original-Method",
          "X-Latchkey-Required-Scopes",
          "X-Latchkey-Scope-Query",
        ],
        query: AuthzQuery,
        responses: { 200: Authorization },
        answerHeaders: {
          200: [...RATE_LIMIT_HEADERS, ...IDENTITY_HEADERS],
          400: REFUSAL_HEADERS,
          401: REFUSAL_HEADERS,
          403: REFUSAL_HEADERS,
          429: [...RATE_LIMIT_HEADERS, ...REFUSAL_HEADERS],
        },
        handle: async ({ deps, query, request, nowMilliseconds, responseHeaders }) => {
          const admission = await admit(
            deps,
            {
              ...DATA_PLANE,
              scopes: requiredScopes(query.scopes, request.headers),
              scopeQuery: requiredScopeQuery(query.scope_query, request.headers),
            },
            {
              method: originalMethodOf(request.headers, method),
              presented: presentedBy(request.headers),
              clientIp: () => request.ip,
            },
            nowMilliseconds,
          );
          writeBucketFields(admission, nowMilliseconds, responseHeaders);
          if (admission.refusal !== null) {
            deps.metrics.recordVerification(admission.refusal.code);
            // A proxy drops the body of an auth answer; this header lets it rebuild the error body for the client.
            responseHeaders["x-latchkey-error"] = admission.refusal.code;
            throw admission.refusal;
          }
          const principal = admission.principal;
          deps.metrics.recordVerification("VALID");
          Object.assign(responseHeaders, identityHeaders(principal));
          return authorizationOf(principal);
        },
      }),
    ),
  ),
];
