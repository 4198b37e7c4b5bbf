/**
 * `@latchkey/sdk/fetch`: `withLatchkey(handler, options)` for anything that serves with `(request) => Response`:
 * Bun.serve, Deno.serve, Cloudflare Workers, Next.js route handlers. The handler runs only for an allowed request and
 * finds the identity with `latchkeyOf(request)`; a refusal is answered with latchkey's status, body and headers.
 */
import { createCheck, type LatchkeyIdentity, type MiddlewareOptions, type Outcome } from "./middleware.ts";

export type { LatchkeyIdentity, MiddlewareOptions } from "./middleware.ts";

const identities = new WeakMap<Request, LatchkeyIdentity | null>();

/** The identity latchkey attached to this request (null under `failOpen: "read-only"` while latchkey is away). */
export function latchkeyOf(request: Request): LatchkeyIdentity | null {
  const identity = identities.get(request);
  if (identity === undefined) throw new Error("latchkeyOf: this request did not pass through withLatchkey");
  return identity;
}

export function withLatchkey<Rest extends unknown[]>(
  handler: (request: Request, ...rest: Rest) => Response | Promise<Response>,
  options: MiddlewareOptions,
): (request: Request, ...rest: Rest) => Promise<Response> {
  const check = createCheck(options);
  return async (request, ...rest) => {
    const outcome = await check({ method: request.method, header: (name) => request.headers.get(name) ?? undefined });
    if (!outcome.allowed) return refusalResponse(outcome);
    identities.set(request, outcome.identity);
    const response = await handler(request, ...rest);
    return withHeaders(response, outcome.headers);
  };
}

/** latchkey's refusal as a Response. */
export function refusalResponse(outcome: Extract<Outcome, { allowed: false }>): Response {
  return new Response(JSON.stringify(outcome.body), { status: outcome.status, headers: outcome.headers });
}

/** The response with latchkey's rate-limit headers added (copied first when its headers are immutable). */
export function withHeaders(response: Response, headers: Record<string, string>): Response {
  const entries = Object.entries(headers);
  if (entries.length === 0) return response;
  let target = response;
  try {
    for (const [name, value] of entries) target.headers.set(name, value);
  } catch {
    target = new Response(response.body, response);
    for (const [name, value] of entries) target.headers.set(name, value);
  }
  return target;
}
