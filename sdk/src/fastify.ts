/**
 * `@latchkey/sdk/fastify`: `app.register(latchkeyPlugin, { baseUrl, scopes })` checks every route of the app (or of
 * the scope it is registered in); `preHandler: latchkey({ … })` checks one route. An allowed request has
 * `request.latchkey`; a refusal is answered with latchkey's status, error body and headers.
 */
import type {} from "fastify";
import { createCheck, type LatchkeyIdentity, type MiddlewareOptions, nodeHeader } from "./middleware.ts";

export type { LatchkeyIdentity, MiddlewareOptions } from "./middleware.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** Set by latchkey's hook (null under `failOpen: "read-only"` while latchkey is away). */
    latchkey: LatchkeyIdentity | null;
  }
}

/** The parts of Fastify's request and reply the hook uses. */
interface HookRequest {
  method: string;
  headers: Record<string, string | string[] | undefined>;
}
interface HookReply {
  header(name: string, value: string): unknown;
  code(status: number): unknown;
  send(payload?: unknown): unknown;
}
interface PluginHost {
  decorateRequest(name: string, value: unknown): unknown;
  addHook(name: "preHandler", hook: (request: HookRequest, reply: HookReply) => Promise<unknown>): unknown;
}

/** A preHandler hook: `{ preHandler: latchkey({ baseUrl, scopes: ["runs:read"] }) }`. */
export function latchkey(options: MiddlewareOptions): (request: HookRequest, reply: HookReply) => Promise<unknown> {
  const check = createCheck(options);
  return async (request, reply) => {
    const outcome = await check({ method: request.method, header: nodeHeader(request.headers) });
    for (const [name, value] of Object.entries(outcome.headers)) reply.header(name, value);
    if (!outcome.allowed) {
      reply.code(outcome.status);
      return reply.send(outcome.body);
    }
    (request as HookRequest & { latchkey: LatchkeyIdentity | null }).latchkey = outcome.identity;
    return undefined;
  };
}

/** Registers the hook for every route (not encapsulated, as fastify-plugin would mark it). */
export const latchkeyPlugin = Object.assign(
  async (fastify: PluginHost, options: MiddlewareOptions) => {
    fastify.decorateRequest("latchkey", null);
    fastify.addHook("preHandler", latchkey(options));
  },
  { [Symbol.for("skip-override")]: true, [Symbol.for("fastify.display-name")]: "@latchkey/sdk" },
);
