import { expect, test } from "bun:test";
import { createTenant, expectError } from "../support/keys.ts";
import { forEachTransport, useWorld } from "../support/transports.ts";

forEachTransport("projects", (transport) => {
  const world = useWorld({ transport });

  test("create with defaults, read, list by tenant, and update only what was sent", async () => {
    const tenantId = await createTenant(world);
    const created = await world.call("POST", "/v1/projects", {
      key: world.rootKey,
      body: { tenant_id: tenantId, name: "api", allowed_origins: ["https://app.example.com"] },
    });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({
      object: "project",
      tenant_id: tenantId,
      name: "api",
      key_prefix: "sk_live_",
      allowed_origins: ["https://app.example.com"],
      verification_url: null,
      callback_hosts: null,
      ratelimit: { limit: 1000, window_seconds: 60 },
      session_ttl_seconds: 900,
      is_default: false,
    });
    const updated = await world.call("PATCH", `/v1/projects/${created.body.id}`, {
      key: world.rootKey,
      body: {
        verification_url: "https://app.example.com/cli",
        callback_hosts: ["cli.example.com"],
        ratelimit: { limit: 50, window_seconds: 10 },
      },
    });
    expect(updated.body).toMatchObject({
      name: "api",
      allowed_origins: ["https://app.example.com"],
      verification_url: "https://app.example.com/cli",
      callback_hosts: ["cli.example.com"],
      ratelimit: { limit: 50, window_seconds: 10 },
    });
    const cleared = await world.call("PATCH", `/v1/projects/${created.body.id}`, {
      key: world.rootKey,
      body: { verification_url: null },
    });
    expect(cleared.body.verification_url).toBeNull();
    const listed = await world.call("GET", `/v1/projects?tenant_id=${tenantId}`, { key: world.rootKey });
    expect(listed.body.data.map((project: { id: string }) => project.id)).toEqual([created.body.id]);
    const read = await world.call("GET", `/v1/projects/${created.body.id}`, { key: world.rootKey });
    expect(read.body).toEqual(cleared.body);
  });

  test("an unknown tenant is 404 naming tenant_id, and no project is created", async () => {
    const answer = await world.call("POST", "/v1/projects", {
      key: world.rootKey,
      body: { tenant_id: "ten_0000000000000000000000", name: "x" },
    });
    expectError(answer, 404, "NOT_FOUND");
    expect(answer.body.error.details[0].path).toBe("tenant_id");
    const listed = await world.call("GET", "/v1/projects", { key: world.rootKey });
    expect(listed.body.data.length).toBe(1);
  });

  const badSettings: [string, Record<string, unknown>, string][] = [
    ["an origin with a path", { allowed_origins: ["https://app.example.com/"] }, "allowed_origins[0]"],
    ["an origin with a wildcard", { allowed_origins: ["https://*.example.com"] }, "allowed_origins[0]"],
    ["a null origin", { allowed_origins: ["null"] }, "allowed_origins[0]"],
    ["an http verification page off loopback", { verification_url: "http://app.example.com/cli" }, "verification_url"],
    ["a javascript: verification page", { verification_url: "javascript:alert(1)" }, "verification_url"],
    ["a callback host with a scheme", { callback_hosts: ["https://cli.example.com"] }, "callback_hosts[0]"],
    ["a callback host naming the default port", { callback_hosts: ["cli.example.com:443"] }, "callback_hosts[0]"],
    ["a callback host with port 0", { callback_hosts: ["a.example", "cli.example.com:0"] }, "callback_hosts[1]"],
    ["a callback host with a port past 65535", { callback_hosts: ["cli.example.com:65536"] }, "callback_hosts[0]"],
    ["a callback host with an empty port", { callback_hosts: ["cli.example.com:"] }, "callback_hosts[0]"],
    ["a callback host with two ports", { callback_hosts: ["cli.example.com:1:2"] }, "callback_hosts[0]"],
    ["an upper-case key prefix", { key_prefix: "SK_" }, "key_prefix"],
    ["a key prefix without trailing _", { key_prefix: "sk" }, "key_prefix"],
    ["regression: the root key's prefix", { key_prefix: "lk_root_" }, "key_prefix"],
    ["regression: any prefix in latchkey's reserved lk_ namespace", { key_prefix: "lk_live_" }, "key_prefix"],
    ["a zero rate limit", { ratelimit: { limit: 0, window_seconds: 1 } }, "ratelimit.limit"],
    ["a session lifetime past the cap", { session_ttl_seconds: 86_401 }, "session_ttl_seconds"],
  ];
  for (const [label, settings, path] of badSettings) {
    test(`refuses ${label} (400 at ${path})`, async () => {
      const tenantId = await createTenant(world);
      const answer = await world.call("POST", "/v1/projects", {
        key: world.rootKey,
        body: { tenant_id: tenantId, name: "x", ...settings },
      });
      expectError(answer, 400, "VALIDATION_FAILED");
      expect(answer.body.error.details.map((detail: { path: string }) => detail.path)).toContain(path);
    });
  }

  test("loopback http verification pages are allowed for local development", async () => {
    const tenantId = await createTenant(world);
    const answer = await world.call("POST", "/v1/projects", {
      key: world.rootKey,
      body: { tenant_id: tenantId, name: "x", verification_url: "http://localhost:3000/cli" },
    });
    expect(answer.status).toBe(200);
  });
});
