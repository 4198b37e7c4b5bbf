/**
 * Per-request state the pipeline carries on Elysia's context: the request id (echoed as X-Request-Id on every
 * response and in every error body), the one `now` the whole request is decided at, and the authenticated principal.
 */
import { newId } from "../lib/ids.ts";
import type { Principal } from "../verify/principal.ts";

export interface RequestState {
  requestId: string;
  nowMilliseconds: number;
  principal: Principal | null;
}

const STATE = Symbol("latchkey.request");

type Carrier = { [STATE]?: RequestState };

/** A caller-supplied id is kept only when it is short and plain, so it cannot smuggle anything into logs. */
const FORWARDED_REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

export function beginRequest(context: object, request: Request, nowMilliseconds: number): RequestState {
  const forwarded = request.headers.get("x-request-id");
  const state: RequestState = {
    requestId: forwarded !== null && FORWARDED_REQUEST_ID.test(forwarded) ? forwarded : newId("request", nowMilliseconds),
    nowMilliseconds,
    principal: null,
  };
  (context as Carrier)[STATE] = state;
  return state;
}

export function requestStateOf(context: object): RequestState | undefined {
  return (context as Carrier)[STATE];
}

export function clientIpOf(context: { server?: { requestIP(request: Request): { address: string } | null } | null; request: Request }): string | null {
  return context.server?.requestIP(context.request)?.address ?? null;
}
