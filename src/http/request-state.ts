/**
 * Per-request state the pipeline carries on Elysia's context: the request id (echoed as X-Request-Id on every
 * response and in every error body), the one `now` the whole request is decided at, and the authenticated principal.
 */

import type { Principal } from "../auth/principal.ts";
import { newRequestId } from "../lib/ids.ts";
import type { Logger } from "../lib/logger.ts";
import type { Metrics } from "../lib/metrics.ts";

export interface RequestState {
  requestId: string;
  nowMilliseconds: number;
  /** performance.now() at arrival, for the latency histogram (the clock may be a test's manual one). */
  startedAt: number;
  /** The client's address (see client-ip.ts); null when there is no socket (in-process tests). */
  clientIp: string | null;
  principal: Principal | null;
}

/**
 * Keyed by the Request rather than stored on Elysia's context: hooks then name only the context fields they read,
 * which lets Elysia skip the parsing (cookies, and so on) a hook that takes the whole context would force.
 */
const states = new WeakMap<Request, RequestState>();

/**
 * Fields every answer carries: answers may hold secrets or per-key state, so no shared cache should keep them unless
 * a route says so, and no browser should guess their type.
 */
export const ANSWER_HEADERS = { "cache-control": "no-store", "x-content-type-options": "nosniff" } as const;

/** A caller-supplied id is kept only when it is short and plain, so it cannot smuggle anything into logs. */
const FORWARDED_REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

/** The caller's X-Request-Id when it is plain, else a new id. */
export function requestIdOf(request: Request): string {
  const forwarded = request.headers.get("x-request-id");
  return forwarded !== null && FORWARDED_REQUEST_ID.test(forwarded) ? forwarded : newRequestId();
}

export function beginRequest(request: Request, nowMilliseconds: number, clientIp: string | null): RequestState {
  const state: RequestState = {
    requestId: requestIdOf(request),
    nowMilliseconds,
    startedAt: performance.now(),
    clientIp,
    principal: null,
  };
  states.set(request, state);
  return state;
}

export function requestStateOf(request: Request): RequestState | undefined {
  return states.get(request);
}

export interface SocketServer {
  requestIP(request: Request): { address: string } | null;
}

/** Requests re-made from another (a fast lane read the body), with the socket address of the one they came from. */
const carriedAddresses = new WeakMap<Request, string | null>();

export function carrySocketAddress(copy: Request, address: string | null): void {
  carriedAddresses.set(copy, address);
}

export function socketAddressOf(server: SocketServer | null | undefined, request: Request): string | null {
  const carried = carriedAddresses.get(request);
  if (carried !== undefined) return carried;
  return server?.requestIP(request)?.address ?? null;
}

/** Metrics and the debug access line for a finished request; called where its status becomes known. */
export function recordRequest(
  deps: { metrics: Metrics; logger: Logger },
  request: Request,
  route: string,
  status: number,
): void {
  const state = states.get(request);
  if (state) recordFinished(deps, request.method, route, status, state.startedAt, state.requestId);
}

/** recordRequest for a request answered outside the pipeline's state (the fast lane). */
export function recordFinished(
  deps: { metrics: Metrics; logger: Logger },
  method: string,
  route: string,
  status: number,
  startedAt: number,
  requestId: string,
): void {
  deps.metrics.recordRequest(route, method, status, (performance.now() - startedAt) / 1000);
  if (deps.logger.debugEnabled) deps.logger.debug("request", { request_id: requestId, method, route, status });
}
