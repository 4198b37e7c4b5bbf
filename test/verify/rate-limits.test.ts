import { afterEach, describe, expect, test } from "bun:test";
import { generateSecret, ROOT_KEY_PREFIX } from "../../src/domain/keys/secret.ts";
import { createKey, createProject, createTenant, expectError, mintSession } from "../support/keys.ts";
import { createWorld, type World } from "../support/world.ts";

describe("rate limits on every authenticated route", () => {
  let world: World;
  afterEach(() => world.close());

  test("every authenticated response carries the five fields", async () => {
    world = await createWorld();
    const key = await createKey(world, { scopes: ["keys:read"] });
    const answer = await world.call("GET", "/v1/keys", { key: key.secret });
    expect(answer.status).toBe(200);
    for (const header of [
      "x-ratelimit-limit",
      "x-ratelimit-remaining",
      "x-ratelimit-reset",
      "ratelimit-policy",
      "ratelimit",
    ]) {
      expect(answer.headers.get(header)).not.toBeNull();
    }
    expect(Number(answer.headers.get("x-ratelimit-reset"))).toBe(
      Math.ceil((world.clock.nowMilliseconds() + 60) / 1000),
    );
  });

  test("the project's default policy applies unless the key has its own, set at creation or by update", async () => {
    world = await createWorld();
    const projectId = await createProject(world, await createTenant(world), {
      ratelimit: { limit: 5, window_seconds: 5 },
    });
    const byDefault = await createKey(world, { scopes: ["keys:read"], project_id: projectId });
    expect((await world.call("GET", "/v1/keys", { key: byDefault.secret })).headers.get("ratelimit-policy")).toBe(
      '"key";q=5;w=5',
    );
    const created = await world.call("POST", "/v1/keys", {
      key: world.rootKey,
      body: { name: "own", scopes: ["keys:read"], project_id: projectId, ratelimit: { limit: 2, window_seconds: 1 } },
    });
    expect(created.body.ratelimit).toEqual({ limit: 2, window_seconds: 1 });
    expect((await world.call("GET", "/v1/keys", { key: created.body.secret })).headers.get("x-ratelimit-limit")).toBe(
      "2",
    );
    await world.call("PATCH", `/v1/keys/${created.body.id}`, { key: world.rootKey, body: { ratelimit: null } });
    expect((await world.call("GET", "/v1/keys", { key: created.body.secret })).headers.get("x-ratelimit-limit")).toBe(
      "5",
    );
  });

  test("a session token spends its parent key's bucket", async () => {
    world = await createWorld();
    const key = await createKey(world, { scopes: ["keys:read"] });
    await world.call("PATCH", `/v1/keys/${key.id}`, {
      key: world.rootKey,
      body: { ratelimit: { limit: 4, window_seconds: 60 } },
    });
    const token = await mintSession(world, key.secret, { scopes: ["keys:read"] }); // spends one
    expect((await world.call("GET", "/v1/keys", { headers: { "x-session-token": token } })).status).toBe(200);
    expect((await world.call("GET", "/v1/keys", { key: key.secret })).status).toBe(200);
    const last = await world.call("GET", "/v1/keys", { headers: { "x-session-token": token } });
    expect(last.headers.get("x-ratelimit-remaining")).toBe("0");
    expectError(await world.call("GET", "/v1/keys", { key: key.secret }), 429, "RATE_LIMITED");
    expectError(await world.call("GET", "/v1/keys", { headers: { "x-session-token": token } }), 429, "RATE_LIMITED");
  });

  test("key updates are validated and need every scope of the key", async () => {
    world = await createWorld();
    const broad = await createKey(world, { scopes: ["billing:write"] });
    const writer = await createKey(world, { scopes: ["keys:write"] });
    expectError(
      await world.call("PATCH", `/v1/keys/${broad.id}`, {
        key: writer.secret,
        body: { ratelimit: { limit: 1_000_000, window_seconds: 1 } },
      }),
      403,
      "SCOPE_NOT_GRANTED",
    );
    for (const body of [
      { ratelimit: { limit: 0, window_seconds: 1 } },
      { ratelimit: { limit: 1 } },
      // Scopes may be changed (to a non-empty list of valid scopes); a field PATCH does not know is still refused.
      { scopes: [] },
      { secret: "sk_live_x" },
    ]) {
      expectError(
        await world.call("PATCH", `/v1/keys/${broad.id}`, { key: world.rootKey, body }),
        400,
        "VALIDATION_FAILED",
      );
    }
    const renamed = await world.call("PATCH", `/v1/keys/${broad.id}`, {
      key: world.rootKey,
      body: { name: "billing" },
    });
    expect(renamed.body).toMatchObject({ name: "billing", ratelimit: null });
  });

  test("64 concurrent clients over a real port: exactly the bucket is admitted, then exactly the refill", async () => {
    world = await createWorld({ transport: "http" });
    const key = await createKey(world, { scopes: ["runs:read"] });
    await world.call("PATCH", `/v1/keys/${key.id}`, {
      key: world.rootKey,
      body: { ratelimit: { limit: 50, window_seconds: 10 } },
    });
    const burst = async () => {
      const answers = await Promise.all(
        Array.from({ length: 64 }, async () => {
          const statuses: number[] = [];
          for (let request = 0; request < 5; request++) {
            statuses.push((await world.call("GET", "/v1/authz", { key: key.secret })).status);
          }
          return statuses;
        }),
      );
      const all = answers.flat();
      return {
        admitted: all.filter((status) => status === 200).length,
        limited: all.filter((status) => status === 429).length,
      };
    };
    expect(await burst()).toEqual({ admitted: 50, limited: 270 });
    world.clock.advanceSeconds(2);
    expect(await burst()).toEqual({ admitted: 10, limited: 310 });
  });
});

describe("failed authentications per client address", () => {
  let world: World;
  afterEach(() => world.close());
  const failToAuthenticate = async (times: number) => {
    for (let attempt = 0; attempt < times; attempt++) {
      expectError(await world.call("GET", "/v1/keys", { key: `sk_live_wrong${attempt}` }), 401, "API_KEY_INVALID");
    }
  };

  test("too many failures from one address are 429 before any credential work; others are unaffected", async () => {
    world = await createWorld({ transport: "http", settings: { authFailurePolicy: { limit: 3, windowSeconds: 60 } } });
    const key = await createKey(world, { scopes: ["keys:read"] });
    await failToAuthenticate(3);
    const blocked = await world.call("GET", "/v1/keys", { key: key.secret });
    expectError(blocked, 429, "RATE_LIMITED");
    expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    world.clock.advanceSeconds(20);
    expect((await world.call("GET", "/v1/keys", { key: key.secret })).status).toBe(200);
  });

  test("an address out of failures is refused until it earns the next, valid keys too; then they pass", async () => {
    // 60 a minute (the default): one more failure each second once the 60 are spent.
    world = await createWorld({ transport: "http", settings: { authFailurePolicy: { limit: 60, windowSeconds: 60 } } });
    const key = await createKey(world, { scopes: ["keys:read"] });
    await failToAuthenticate(60);
    const blocked = await world.call("GET", "/v1/keys", { key: key.secret });
    expectError(blocked, 429, "RATE_LIMITED");
    expect(blocked.headers.get("retry-after")).toBe("1");
    expect(blocked.headers.get("ratelimit-policy")).toBe('"auth-failures";q=60;w=60');
    world.clock.advanceMilliseconds(999);
    expectError(await world.call("GET", "/v1/keys", { key: key.secret }), 429, "RATE_LIMITED");
    world.clock.advanceMilliseconds(1);
    // A valid key spends nothing of the address's budget: it keeps passing while no new failure comes.
    for (let attempt = 0; attempt < 5; attempt++) {
      expect((await world.call("GET", "/v1/keys", { key: key.secret })).status).toBe(200);
    }
    // The one failure earned is spent by the next wrong key, and the address is refused again for a second.
    expectError(await world.call("GET", "/v1/keys", { key: "sk_live_wrong" }), 401, "API_KEY_INVALID");
    expectError(await world.call("GET", "/v1/keys", { key: key.secret }), 429, "RATE_LIMITED");
  });

  test("regression: failures of others at a shared address do not lock the root key out of management", async () => {
    world = await createWorld({ transport: "http", settings: { authFailurePolicy: { limit: 3, windowSeconds: 60 } } });
    expect((await world.call("GET", "/v1/tenants", { key: world.rootKey })).status).toBe(200);
    await failToAuthenticate(3);
    expect((await world.call("GET", "/v1/tenants", { key: world.rootKey })).status).toBe(200);
    const created = await world.call("POST", "/v1/keys", {
      key: world.rootKey,
      body: { name: "during an attack", scopes: ["keys:read"] },
    });
    expect(created.status).toBe(200);
    // Only the root key itself, known in memory: anything else shaped like it is refused before any lookup.
    const lookalike = generateSecret(ROOT_KEY_PREFIX);
    world.handedSecrets.add(lookalike);
    expectError(await world.call("GET", "/v1/tenants", { key: lookalike }), 429, "RATE_LIMITED");
    expectError(await world.call("GET", "/v1/keys", { key: created.body.secret }), 429, "RATE_LIMITED");
  });

  test("verification failures reported by a host API do not count against the host", async () => {
    world = await createWorld({ transport: "http", settings: { authFailurePolicy: { limit: 2, windowSeconds: 60 } } });
    const key = await createKey(world, { scopes: ["keys:read"] });
    for (let attempt = 0; attempt < 10; attempt++) {
      await world.call("POST", "/v1/keys/verify", { body: { key: "sk_live_guess" } });
    }
    expect((await world.call("POST", "/v1/keys/verify", { body: { key: key.secret } })).body.valid).toBe(true);
    expect((await world.call("GET", "/v1/keys", { key: key.secret })).status).toBe(200);
  });
});
