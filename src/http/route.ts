/**
 * The schema-first route table. Each feature exports rows made with `route(...)`: method, path, summary, tags, the
 * credential and scopes it needs, zod schemas for params, query, body and every response, and the handler. The
 * Elysia app and the OpenAPI document are both generated from these rows (see mount.ts); nothing about a route is
 * written anywhere else.
 *
 * The standard refusals a row implies (400 for bad input, 401/403 for credentials, 413/415 for bodies, 500) are
 * added to its documented responses by mount.ts; a row lists only its success and route-specific errors.
 */
import type { z } from "zod";
import type { Principal } from "../auth/principal.ts";
import type { AuditActor, RequestContext } from "../domain/audit/service.ts";
import type { Module } from "../lib/modules.ts";
import type { AppDeps } from "./app-deps.ts";

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/**
 * - `none`: anyone may call (health, documents, unauthenticated flows).
 * - `key`: a live API key of an active tenant, holding `scopes`, whose tenant has `module`.
 * - `key_or_session`: the same, or a session token minted from such a key (its scopes count).
 * - `root`: the root key only.
 * - `forwarded`: the handler itself decides about a credential it was handed (forward-auth for proxies).
 */
export type Credential = "none" | "key" | "key_or_session" | "root" | "forwarded";

/** The request as a handler sees it: where it came from (the one request context), and its headers. */
export interface HandlerRequest extends RequestContext {
  requestId: string;
  headers: Headers;
}

type PrincipalFor<C extends Credential> = C extends "none" | "forwarded" ? null : Principal;
type Input<S> = S extends z.ZodType ? z.output<S> : undefined;
type SuccessStatus = 200 | 201 | 202;
type SuccessBody<Responses> = {
  [Status in keyof Responses]: Status extends SuccessStatus
    ? Responses[Status] extends z.ZodType
      ? z.input<Responses[Status]>
      : never
    : never;
}[keyof Responses];

interface HandlerContext<C extends Credential, Body, Query, Params> {
  body: Body;
  query: Query;
  params: Params;
  principal: PrincipalFor<C>;
  /** The audit actor for changes made by this request: the calling key, its IP, user agent and request id. */
  actor: AuditActor;
  deps: AppDeps;
  nowMilliseconds: number;
  request: HandlerRequest;
  /** Extra headers for the success response (the route decides them; the mount sets them). */
  responseHeaders: Record<string, string>;
}

/** The parts of a row that do not depend on its schemas' types. */
interface RouteContract {
  method: HttpMethod;
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  scopes?: readonly string[];
  module?: Module;
  /** The browser channel: a bare API key from a browser is what it exists for, so the browser rule does not apply. */
  browserChannel?: boolean;
  /**
   * How errors are written: the catalogue's body (default), the CLI-login contract's `{success:false, msg, code}`,
   * or RFC 6749's `{error, error_description}` for the OAuth device grant.
   */
  errorFormat?: ErrorFormat;
  /** JSON (default), or application/x-www-form-urlencoded as OAuth endpoints take. */
  bodyFormat?: "json" | "form";
  /** Headers the handler reads itself, declared as parameters in the document. */
  headers?: readonly RequestHeader[];
  /**
   * Headers the handler itself adds to its answers, by status, as the document declares them. Those every row of its
   * kind sends (X-Request-Id, WWW-Authenticate on 401, Retry-After on 429, an admitted key's rate-limit fields) follow
   * from the row's declaration and need not be listed.
   */
  answerHeaders?: Partial<Record<number, readonly ResponseHeader[]>>;
}

export type ErrorFormat = "standard" | "cli" | "oauth";

/**
 * Request headers a route reads besides its credential, as the document declares them. The credential's own headers
 * (Authorization, X-Session-Token, X-Project-Id) follow from `credential` and need not be listed.
 */
export const REQUEST_HEADERS = {
  "X-Project-Id":
    "The project the caller expects: a credential of any other project is refused as unknown. With " +
    "the root key, the project to act in.",
  "X-Session-Token": "A session token, where the route accepts one instead of an API key.",
  "X-Code-Verifier": "The PKCE verifier, for a login started with a code challenge.",
  Origin: "The browser origin; the browser channel binds its token to it.",
  "X-Forwarded-Method": "The method of the request behind the proxy (Traefik, Caddy).",
  "X-Original-Method": "The method of the request behind the proxy (nginx); must agree with X-Forwarded-Method.",
  "X-Latchkey-Required-Scopes": "Comma-separated scopes the proxied request needs, united with ?scopes=.",
  "X-Latchkey-Scope-Query":
    "A scope query the proxied request needs, e.g. runs:read AND (runs:write OR billing:admin); both it and " +
    "?scope_query= must hold.",
} as const;

export type RequestHeader = keyof typeof REQUEST_HEADERS;

/** Every header latchkey's answers carry besides the standard ones, as `components.headers` describes them. */
export const RESPONSE_HEADERS = {
  "X-Request-Id": {
    type: "string",
    description:
      "The request's id (the caller's own X-Request-Id when it is plain): quote it when reporting a problem.",
  },
  "WWW-Authenticate": { type: "string", description: 'The credential to send (RFC 6750): `Bearer realm="latchkey"`.' },
  "Retry-After": { type: "integer", description: "Seconds to wait before trying again (at least 1)." },
  "X-RateLimit-Limit": { type: "integer", description: "The size of the bucket this request spent from." },
  "X-RateLimit-Remaining": { type: "integer", description: "Requests the bucket still admits now." },
  "X-RateLimit-Reset": { type: "integer", description: "Unix seconds at which the bucket is full again." },
  RateLimit: {
    type: "string",
    description: 'The bucket now, as an IETF structured field: `"key";r=<remaining>;t=<seconds until full>`.',
  },
  "RateLimit-Policy": {
    type: "string",
    description: 'The bucket\'s policy, as an IETF structured field: `"key";q=<limit>;w=<window seconds>`.',
  },
  "X-Latchkey-Key-Id": { type: "string", description: "The key that made the request (or minted its token)." },
  "X-Latchkey-Project-Id": { type: "string", description: "The key's project." },
  "X-Latchkey-Tenant-Id": { type: "string", description: "The project's tenant." },
  "X-Latchkey-Subject": {
    type: "string",
    description: "The end user: a token's subject, or the key id. Percent-encoded UTF-8 (RFC 3986).",
  },
  "X-Latchkey-Scopes": { type: "string", description: "The credential's scopes, comma-separated." },
  "X-Latchkey-Error": {
    type: "string",
    description: "The refusal's catalogue code, for a proxy that drops the body of an auth answer.",
  },
} as const;

export type ResponseHeader = keyof typeof RESPONSE_HEADERS;

/** The rate-limit fields of a bucket a request spent from (src/domain/ratelimit/headers.ts writes them). */
export const RATE_LIMIT_HEADERS = [
  "X-RateLimit-Limit",
  "X-RateLimit-Remaining",
  "X-RateLimit-Reset",
  "RateLimit",
  "RateLimit-Policy",
] as const satisfies readonly ResponseHeader[];

export interface RouteSpec<
  C extends Credential,
  Body extends z.ZodType | undefined,
  Query extends z.ZodType | undefined,
  Params extends z.ZodType | undefined,
  Responses extends Partial<Record<number, z.ZodType>>,
> extends RouteContract {
  credential: C;
  body?: Body;
  query?: Query;
  params?: Params;
  responses: Responses;
  handle(
    context: HandlerContext<C, Input<Body>, Input<Query>, Input<Params>>,
  ): SuccessBody<Responses> | Promise<SuccessBody<Responses>>;
}

/** A row as the mount sees it: the same fields with the generics erased. */
export interface AnyRoute extends RouteContract {
  credential: Credential;
  body?: z.ZodType;
  query?: z.ZodType;
  params?: z.ZodType;
  responses: Partial<Record<number, z.ZodType>>;
  handle(context: HandlerContext<Credential, unknown, unknown, unknown>): unknown;
}

export function route<
  C extends Credential,
  Responses extends Partial<Record<number, z.ZodType>>,
  Body extends z.ZodType | undefined = undefined,
  Query extends z.ZodType | undefined = undefined,
  Params extends z.ZodType | undefined = undefined,
>(spec: RouteSpec<C, Body, Query, Params, Responses>): AnyRoute {
  return spec as unknown as AnyRoute;
}

export function successStatusOf(spec: AnyRoute): number {
  const status = Object.keys(spec.responses)
    .map(Number)
    .find((code) => code >= 200 && code < 300);
  if (status === undefined) throw new Error(`route ${spec.operationId} declares no success response`);
  return status;
}
