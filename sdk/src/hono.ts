/**
 * `@latchkey/sdk/hono`: `app.use(latchkey({ baseUrl, scopes }))`. An allowed request has `c.get("latchkey")` (type the
 * app with `new Hono<{ Variables: LatchkeyVariables }>()`) and latchkey's rate-limit headers on its response; a
 * refusal is answered with latchkey's status, error body and headers. Runs wherever Hono does (Bun, Node, Deno,
 * Workers).
 */
import type { MiddlewareHandler } from "hono";
import { refusalResponse, withHeaders } from "./fetch.ts";
import { createCheck, type LatchkeyIdentity, type MiddlewareOptions } from "./middleware.ts";

export type { LatchkeyIdentity, MiddlewareOptions } from "./middleware.ts";

export type LatchkeyVariables = { latchkey: LatchkeyIdentity | null };

export function latchkey(options: MiddlewareOptions): MiddlewareHandler<{ Variables: LatchkeyVariables }> {
  const check = createCheck(options);
  return async (c, next) => {
    const outcome = await check({ method: c.req.method, header: (name) => c.req.header(name) });
    if (!outcome.allowed) return refusalResponse(outcome);
    c.set("latchkey", outcome.identity);
    await next();
    c.res = withHeaders(c.res, outcome.headers);
  };
}
