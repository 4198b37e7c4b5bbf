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

/** A caller-supplied id is kept only when it is short and plain, so it cannot smuggle anything into logs. */
const FORWARDED_REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

export function beginRequest(request: Request, nowMilliseconds: number, clientIp: string | null): RequestState {
  const forwarded = request.headers.get("x-request-id");
  const state: RequestState = {
    requestId: forwarded !== null && FORWARDED_REQUEST_ID.test(forwarded) ? forwarded : newRequestId(),
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

export function socketAddressOf(server: SocketServer | null | undefined, request: Request): string | null {
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
  if (!state) return;
  deps.metrics.recordRequest(route, request.method, status, (performance.now() - state.startedAt) / 1000);
  if (deps.logger.debugEnabled) {
    deps.logger.debug("request", { request_id: state.requestId, method: request.method, route, status });
  }
}
