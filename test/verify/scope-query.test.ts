/**
 * Scope queries on every surface: /v1/keys/verify `scope_query`, /v1/authz `?scope_query=` and the
 * X-Latchkey-Scope-Query header (both must hold), for keys and session tokens, warm or cold; a malformed query is a
 * 400 naming the position, an unmet one SCOPE_NOT_GRANTED naming the unmet part. `scopes` keeps working beside it.
 */
import { expect, test } from "bun:test";
import { createKey, mintSession } from "../support/keys.ts";
import { forEachTransport, useWorld } from "../support/transports.ts";
import type { Answer } from "../support/world.ts";

forEachTransport("scope queries", (transport) => {
  const world = useWorld({ transport });
  const query = "runs:read AND (runs:write OR billing:admin)";

  test("verify: satisfied, unmet (naming the unmet part), malformed (naming where), for keys and tokens", async () => {
    const writer = await createKey(world, { scopes: ["runs:read", "runs:write"] });
    const reader = await createKey(world, { scopes: ["runs:read"] });
    const token = await mintSession(world, reader.secret);
    const verify = async (body: Record<string, unknown>) => {
      const answer = await world.call("POST", "/v1/keys/verify", { body });
      return answer.status === 200
        ? [answer.body.code, answer.body.details]
        : [answer.status, answer.body.error.details];
    };
    for (let round = 0; round < 2; round++) {
      expect(await verify({ key: writer.secret, scope_query: query })).toEqual(["VALID", []]);
      const unmet = [{ path: "scope_query", message: "runs:write OR billing:admin" }];
      expect(await verify({ key: reader.secret, scope_query: query })).toEqual(["SCOPE_NOT_GRANTED", unmet]);
      expect(await verify({ token, scope_query: query })).toEqual(["SCOPE_NOT_GRANTED", unmet]);
      expect(await verify({ token, scope_query: "runs:read or billing:admin" })).toEqual(["VALID", []]);
      // scopes and the query both hold: the missing scope is named first.
      expect(await verify({ key: writer.secret, scopes: ["billing:read"], scope_query: query })).toEqual([
        "SCOPE_NOT_GRANTED",
        [{ path: "scopes", message: "billing:read" }],
      ]);
    }
    expect(await verify({ key: writer.secret, scope_query: "runs:read AND" })).toEqual([
      400,
      [{ path: "scope_query", message: "expected a scope or ( (at character 13)" }],
    ]);
    expect((await verify({ key: writer.secret, scope_query: "x".repeat(1001) }))[0]).toBe(400);
    expect((await verify({ key: writer.secret, scope_query: ["runs:read"] }))[0]).toBe(400);
  });

  test("forward-auth: the query parameter and the header, each alone and both together", async () => {
    const writer = await createKey(world, { scopes: ["runs:read", "runs:write"] });
    const call = (path: string, headers: Record<string, string> = {}) =>
      world.call("GET", path, { key: writer.secret, headers });
    const outcome = (answer: Answer) => [answer.status, answer.headers.get("x-latchkey-error")];
    const encoded = encodeURIComponent(query);
    for (let round = 0; round < 2; round++) {
      expect(outcome(await call(`/v1/authz?scope_query=${encoded}`))).toEqual([200, null]);
      expect(outcome(await call("/v1/authz", { "x-latchkey-scope-query": query }))).toEqual([200, null]);
      const denied = await call("/v1/authz", { "x-latchkey-scope-query": "billing:admin OR audit:read" });
      expect(outcome(denied)).toEqual([403, "SCOPE_NOT_GRANTED"]);
      expect(denied.body.error.details).toEqual([{ path: "scope_query", message: "billing:admin OR audit:read" }]);
      // Both sent: both must hold (a client can only make its own request stricter).
      const both = await call(`/v1/authz?scope_query=${encoded}`, { "x-latchkey-scope-query": "billing:admin" });
      expect(outcome(both)).toEqual([403, "SCOPE_NOT_GRANTED"]);
    }
    const malformed = await call(`/v1/authz?scope_query=${encodeURIComponent("(runs:read")}`);
    expect([malformed.status, malformed.body.error.details]).toEqual([
      400,
      [{ path: "scope_query", message: "expected ) (at character 10)" }],
    ]);
    const badHeader = await call("/v1/authz", { "x-latchkey-scope-query": "runs:read runs:write" });
    expect([badHeader.status, badHeader.body.error.details]).toEqual([
      400,
      [{ path: "x-latchkey-scope-query", message: "expected AND, OR or the end (at character 10)" }],
    ]);
  });
});
