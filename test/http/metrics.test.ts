import { afterEach, describe, expect, test } from "bun:test";
import { createKey } from "../support/keys.ts";
import { createWorld, type World } from "../support/world.ts";

describe("/metrics", () => {
  let world: World;
  afterEach(() => world.close());

  test("counts requests by route and status, verifications, 429s and cache use, in Prometheus text", async () => {
    world = await createWorld();
    const key = await createKey(world, { scopes: ["runs:read"] });
    await world.call("PATCH", `/v1/keys/${key.id}`, {
      key: world.rootKey,
      body: { ratelimit: { limit: 2, window_seconds: 60 } },
    });
    for (let index = 0; index < 3; index++) await world.call("GET", "/v1/authz", { key: key.secret });
    await world.call("POST", "/v1/keys/verify", { body: { key: "garbage" } });
    await Bun.sleep(5); // Elysia records after-response work on a later turn of the event loop
    const answer = await world.call("GET", "/metrics");
    expect(answer.status).toBe(200);
    expect(answer.headers.get("content-type")).toContain("text/plain");
    const text: string = answer.text;
    expect(text).toContain('latchkey_http_requests_total{route="/v1/authz",method="GET",status="200"} 2');
    expect(text).toContain('latchkey_http_requests_total{route="/v1/authz",method="GET",status="429"} 1');
    expect(text).toContain('latchkey_verifications_total{code="VALID"} 2');
    expect(text).toContain('latchkey_verifications_total{code="RATE_LIMITED"} 1');
    expect(text).toContain('latchkey_verifications_total{code="API_KEY_INVALID"} 1');
    expect(text).toContain("latchkey_rate_limited_total 1");
    expect(text).toMatch(/latchkey_cache_hits_total\{cache="keys"\} [1-9]/);
    expect(text).toMatch(/latchkey_http_request_duration_seconds_count [1-9]/);
    expect(text).toContain("latchkey_in_sync 1");
    expect(text).toMatch(/latchkey_sync_lag_seconds \d+\.\d{3}/);
    expect(text).toContain("latchkey_database_errors_total 0");
    // Lease counts only where buckets are shared through Redis.
    if (world.deps.rateLimiter.stats) {
      expect(text).toMatch(/latchkey_redis_leases_total [1-9]/);
      expect(text).toContain("latchkey_redis_reachable 1");
      expect(text).toContain("latchkey_redis_errors_total 0");
    } else expect(text).not.toContain("latchkey_redis_");
    expect(text).not.toContain(key.secret);
    expect(text).not.toContain(key.id);
  });

  test("a request the database could not answer is counted", async () => {
    world = await createWorld();
    const key = await createKey(world, { scopes: ["runs:read"] });
    await world.closeStorage();
    expect((await world.call("GET", "/v1/authz", { key: key.secret })).status).toBe(503);
    expect((await world.call("GET", "/metrics")).text).toContain("latchkey_database_errors_total 1");
  });
});
