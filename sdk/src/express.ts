/**
 * `@latchkey/sdk/express`: `app.use(latchkey({ baseUrl, scopes }))`, or per route. An allowed request goes on with
 * `req.latchkey` set and latchkey's rate-limit headers on the response; a refusal is answered here with latchkey's
 * status, error body and headers (Retry-After, WWW-Authenticate). Works with Express 4 and 5 (and Connect).
 */
import { createCheck, type LatchkeyIdentity, type MiddlewareOptions, nodeHeader } from "./middleware.ts";

export type { LatchkeyIdentity, MiddlewareOptions } from "./middleware.ts";

declare global {
  namespace Express {
    interface Request {
      /** Set by latchkey's middleware (null under `failOpen: "read-only"` while latchkey is away). */
      latchkey?: LatchkeyIdentity | null;
    }
  }
}

/** The parts of Node's request and response the middleware uses. */
interface NodeRequest {
  method?: string | undefined;
  headers: Record<string, string | string[] | undefined>;
  latchkey?: LatchkeyIdentity | null;
}
interface NodeResponse {
  statusCode: number;
  setHeader(name: string, value: string): unknown;
  end(body?: string): unknown;
}

export function latchkey(
  options: MiddlewareOptions,
): (req: NodeRequest, res: NodeResponse, next: (error?: unknown) => void) => Promise<void> {
  const check = createCheck(options);
  return async (req, res, next) => {
    let outcome: Awaited<ReturnType<typeof check>>;
    try {
      outcome = await check({ method: req.method ?? "GET", header: nodeHeader(req.headers) });
    } catch (error) {
      next(error);
      return;
    }
    for (const [name, value] of Object.entries(outcome.headers)) res.setHeader(name, value);
    if (!outcome.allowed) {
      res.statusCode = outcome.status;
      res.end(JSON.stringify(outcome.body));
      return;
    }
    req.latchkey = outcome.identity;
    next();
  };
}
