/**
 * GET /v1/keys/:id/usage: every decision on a key's requests (verify, forward-auth, any route, its tokens), counted
 * by outcome per UTC hour or day, from the database and from what this node has not written yet; kept for the
 * retention and pruned.
 */
import { expect, test } from "bun:test";
import { pruneKeyUsage } from "../../src/domain/keys/usage.ts";
import { createKey, expectError, mintSession } from "../support/keys.ts";
import { forEachTransport, useWorld } from "../support/transports.ts";
import type { World } from "../support/world.ts";

async function usageOf(world: World, keyId: string, query = "") {
  const answer = await world.call("GET", `/v1/keys/${keyId}/usage${query}`, { key: world.rootKey });
  expect({ query, status: answer.status }).toEqual({ query, status: 200 });
  return answer.body.data as { start: string; outcomes: Record<string, number> }[];
}

forEachTransport("usage by outcome", (transport) => {
  const world = useWorld({ transport, startMilliseconds: Date.parse("2026-03-10T10:15:00Z") });

  test("each decision counts once under its outcome, before and after the batch is written", async () => {
    const key = await createKey(world, { scopes: ["runs:read"] });
    await world.call("PATCH", `/v1/keys/${key.id}`, {
      key: world.rootKey,
      body: { ratelimit: { limit: 3, window_seconds: 3600 } },
    });
    await world.deps.changeLog.catchUp();
    const token = await mintSession(world, key.secret); // VALID (1): minting is a request of the key
    await world.call("POST", "/v1/keys/verify", { body: { key: key.secret } }); // VALID (2)
    await world.call("GET", "/v1/authz", { headers: { "x-session-token": token } }); // VALID (3)
    await world.call("GET", "/v1/authz", { key: key.secret }); // RATE_LIMITED: the bucket of 3 is spent
    await world.call("POST", "/v1/keys/verify", { body: { key: key.secret, scopes: ["billing:read"] } }); // SCOPE
    await world.call("POST", "/v1/keys/verify", { body: { key: "sk_live_unknown" } }); // no key named: not counted
    const expected = [
      { start: "2026-03-10T00:00:00.000Z", outcomes: { VALID: 3, RATE_LIMITED: 1, SCOPE_NOT_GRANTED: 1 } },
    ];
    expect(await usageOf(world, key.id)).toEqual(expected);
    await world.deps.usage.flush(world.deps.storage);
    expect(await usageOf(world, key.id)).toEqual(expected);
    // Written and unwritten counts add up.
    await world.call("POST", "/v1/keys/verify", { body: { key: key.secret, scopes: ["billing:read"] } });
    expect((await usageOf(world, key.id))[0]!.outcomes.SCOPE_NOT_GRANTED).toBe(2);
  });

  test("per hour or per day, within start and end; periods without counts are left out", async () => {
    const key = await createKey(world, { scopes: ["runs:read"] });
    const verify = () => world.call("POST", "/v1/keys/verify", { body: { key: key.secret } });
    await verify(); // 2026-03-10 10:xx
    world.clock.advanceSeconds(3600);
    await verify();
    await verify(); // 11:xx
    world.clock.advanceSeconds(86_400);
    await verify(); // 2026-03-11 11:xx
    const hours = await usageOf(world, key.id, "?granularity=hour&start=2026-03-10T00:00:00Z&end=2026-03-11T23:00:00Z");
    expect(hours).toEqual([
      { start: "2026-03-10T10:00:00.000Z", outcomes: { VALID: 1 } },
      { start: "2026-03-10T11:00:00.000Z", outcomes: { VALID: 2 } },
      { start: "2026-03-11T11:00:00.000Z", outcomes: { VALID: 1 } },
    ]);
    expect(await usageOf(world, key.id, "?granularity=day")).toEqual([
      { start: "2026-03-10T00:00:00.000Z", outcomes: { VALID: 3 } },
      { start: "2026-03-11T00:00:00.000Z", outcomes: { VALID: 1 } },
    ]);
    expect(await usageOf(world, key.id, "?start=2026-03-11T05:00:00Z")).toEqual([
      { start: "2026-03-11T00:00:00.000Z", outcomes: { VALID: 1 } },
    ]);
    expect(
      await usageOf(world, key.id, "?granularity=hour&end=2026-03-10T10:59:59Z&start=2026-03-10T00:00:00Z"),
    ).toEqual([{ start: "2026-03-10T10:00:00.000Z", outcomes: { VALID: 1 } }]);
  });

  test("a disabled key's refusals count too; another project's key is 404; bad ranges are 400", async () => {
    const key = await createKey(world, { scopes: ["runs:read"] });
    await world.call("PATCH", `/v1/keys/${key.id}`, { key: world.rootKey, body: { enabled: false } });
    await world.deps.changeLog.catchUp();
    await world.call("GET", "/v1/authz", { key: key.secret });
    expect((await usageOf(world, key.id))[0]!.outcomes).toEqual({ API_KEY_DISABLED: 1 });
    const reader = await createKey(world, { scopes: ["keys:read"] });
    const other = await world.call("POST", "/v1/tenants", { key: world.rootKey, body: { name: "t" } });
    const project = await world.call("POST", "/v1/projects", {
      key: world.rootKey,
      body: { tenant_id: other.body.id, name: "p" },
    });
    const foreign = await createKey(world, { scopes: ["runs:read"], project_id: project.body.id });
    expectError(await world.call("GET", `/v1/keys/${foreign.id}/usage`, { key: reader.secret }), 404, "NOT_FOUND");
    expect((await world.call("GET", `/v1/keys/${key.id}/usage`, { key: reader.secret })).status).toBe(200);
    for (const query of [
      "?granularity=minute",
      "?start=yesterday",
      "?start=2026-03-10T00:00:00Z&end=2026-03-09T00:00:00Z",
      "?granularity=hour&start=2026-01-01T00:00:00Z&end=2026-03-01T00:00:00Z",
      "?start=2024-01-01T00:00:00Z&end=2026-03-01T00:00:00Z",
    ]) {
      const answer = await world.call("GET", `/v1/keys/${key.id}/usage${query}`, { key: world.rootKey });
      expect({ query, status: answer.status }).toEqual({ query, status: 400 });
    }
  });

  test("counts older than the retention are pruned; newer ones stay", async () => {
    const key = await createKey(world, { scopes: ["runs:read"] });
    await world.call("POST", "/v1/keys/verify", { body: { key: key.secret } });
    world.clock.advanceSeconds(2 * 86_400);
    await world.call("POST", "/v1/keys/verify", { body: { key: key.secret } });
    await world.deps.usage.flush(world.deps.storage);
    const removed = await pruneKeyUsage(world.deps, world.clock.nowMilliseconds() - 86_400_000);
    expect(removed).toBeGreaterThanOrEqual(1);
    expect(await usageOf(world, key.id, "?start=2026-03-01T00:00:00Z")).toEqual([
      { start: "2026-03-12T00:00:00.000Z", outcomes: { VALID: 1 } },
    ]);
  });
});
