import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { isWellFormedSecret } from "../../src/domain/keys/secret.ts";
import { createKey, createTenantWithKey, expectError } from "../support/keys.ts";
import { forEachTransport, useWorld } from "../support/transports.ts";
import { createWorld, type World } from "../support/world.ts";

forEachTransport("POST /v1/keys", (transport) => {
  const world = useWorld({ transport });

  test("returns the key with its secret exactly once, with the contract's fields", async () => {
    const answer = await world.call("POST", "/v1/keys", {
      key: world.rootKey,
      body: { name: "billing worker", scopes: ["runs:write", "runs:read"], expires_at: "2026-06-01T00:00:00Z" },
    });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      object: "api_key",
      name: "billing worker",
      scopes: ["runs:write", "runs:read"],
      expires_at: "2026-06-01T00:00:00.000Z",
      created_at: "2026-01-01T00:00:00.000Z",
      revoked_at: null,
      root: false,
      project_id: world.defaultProjectId,
    });
    expect(answer.body.id).toMatch(/^key_[0-9A-Za-z]{22}$/);
    expect(answer.body.secret).toStartWith("sk_live_");
    expect(isWellFormedSecret(answer.body.secret)).toBe(true);
    expect(answer.body.hint).toBe(`sk_live_...${answer.body.secret.slice(-4)}`);

    const read = await world.call("GET", `/v1/keys/${answer.body.id}`, { key: world.rootKey });
    expect(read.status).toBe(200);
    expect(read.text).not.toContain(answer.body.secret);
    expect(read.body.secret).toBeUndefined();
  });

  test("a key without expires_at never expires", async () => {
    const key = await createKey(world, { scopes: ["runs:read"] });
    expect(key.body.expires_at).toBeNull();
  });

  test("the new secret authenticates at once", async () => {
    const key = await createKey(world, { scopes: ["keys:read"] });
    const answer = await world.call("GET", "/v1/keys", { key: key.secret });
    expect(answer.status).toBe(200);
  });
});

describe("POST /v1/keys input rules", () => {
  let world: World;
  beforeEach(async () => {
    world = await createWorld();
  });
  afterEach(() => world.close());

  const invalidBodies: [string, unknown, string][] = [
    ["missing name", { scopes: ["a:b"] }, "name"],
    ["empty name", { name: "", scopes: ["a:b"] }, "name"],
    ["name over 200 characters", { name: "n".repeat(201), scopes: ["a:b"] }, "name"],
    ["control characters in name", { name: "a\u0000b", scopes: ["a:b"] }, "name"],
    ["missing scopes", { name: "k" }, "scopes"],
    ["no scopes", { name: "k", scopes: [] }, "scopes"],
    ["65 scopes", { name: "k", scopes: Array.from({ length: 65 }, (_, i) => `r${i}:read`) }, "scopes"],
    ["a wildcard scope", { name: "k", scopes: ["runs:read", "runs:write", "runs:*"] }, "scopes[2]"],
    ["a bare wildcard", { name: "k", scopes: ["*"] }, "scopes[0]"],
    ["upper-case scope", { name: "k", scopes: ["Runs:read"] }, "scopes[0]"],
    ["scope without action", { name: "k", scopes: ["runs"] }, "scopes[0]"],
    ["scope of the wrong type", { name: "k", scopes: [7] }, "scopes[0]"],
    ["expires_at not a date", { name: "k", scopes: ["a:b"], expires_at: "tomorrow" }, "expires_at"],
    ["expires_at in the past", { name: "k", scopes: ["a:b"], expires_at: "2025-12-31T23:59:59Z" }, "expires_at"],
    ["expires_at now", { name: "k", scopes: ["a:b"], expires_at: "2026-01-01T00:00:00Z" }, "expires_at"],
    ["an unknown field", { name: "k", scopes: ["a:b"], expires_in: 60 }, "expires_in"],
    ["a body that is not an object", ["k"], "body"],
  ];

  for (const [label, body, path] of invalidBodies) {
    test(`refuses ${label} with 400 VALIDATION_FAILED at ${path}, and creates nothing`, async () => {
      const before = await world.call("GET", "/v1/keys", { key: world.rootKey });
      const answer = await world.call("POST", "/v1/keys", { key: world.rootKey, body });
      expectError(answer, 400, "VALIDATION_FAILED");
      expect(answer.body.error.details.map((detail: { path: string }) => detail.path)).toContain(path);
      const after = await world.call("GET", "/v1/keys", { key: world.rootKey });
      expect(after.body.data.length).toBe(before.body.data.length);
    });
  }

  test("regression: messages speak of the field and name its documented bound, not the validator's", async () => {
    const messages = async (body: unknown) => {
      const answer = await world.call("POST", "/v1/keys", { key: world.rootKey, body });
      expectError(answer, 400, "VALIDATION_FAILED");
      return Object.fromEntries(
        answer.body.error.details.map((detail: { path: string; message: string }) => [detail.path, detail.message]),
      );
    };
    expect(await messages({ name: "k", scopes: ["a:b"], ratelimit: { limit: 1e300, window_seconds: 0.5 } })).toEqual({
      "ratelimit.limit": "must be an integer from 1 to 1000000",
      "ratelimit.window_seconds": "must be an integer from 1 to 86400",
    });
    expect(await messages({ scopes: ["a:b"] })).toEqual({ name: "is required" });
    expect(await messages({ name: 5, scopes: "a:b" })).toEqual({ name: "must be a string", scopes: "must be a list" });
    expect(await messages({ name: "k", scopes: ["a:b"], ratelimit: { limit: "10", window_seconds: 1 } })).toEqual({
      "ratelimit.limit": "must be an integer from 1 to 1000000",
    });
    const all = JSON.stringify(await messages({ name: "k", scopes: ["a:b"], owner: null, expires_at: 5 }));
    expect(all).not.toMatch(/Invalid input|expected|received/);
  });

  test("regression: a lone UTF-16 surrogate is refused at input, never stored", async () => {
    const answer = await world.call("POST", "/v1/keys", {
      key: world.rootKey,
      rawBody: '{"name":"k","scopes":["a:b"],"owner":"\\ud800x"}',
      headers: { "content-type": "application/json" },
    });
    expectError(answer, 400, "VALIDATION_FAILED");
    expect(answer.body.error.details).toEqual([{ path: "owner", message: "must be valid Unicode text" }]);
  });

  test("regression: bidirectional controls are refused in the names and user ids an approver reads", async () => {
    // U+202E turns "laptop\u202Eexe.gnp" into "laptopgnp.exe" on screen (Trojan Source, CVE-2021-42574): what the
    // approval page, an audit reader or a key list shows must be what was stored.
    const controls = [0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069];
    const sender = await createKey(world, { scopes: ["runs:read"] });
    for (const control of controls) {
      const text = `laptop${String.fromCodePoint(control)}exe.gnp`;
      const refusals = [
        [await world.call("POST", "/v1/keys", { key: world.rootKey, body: { name: text, scopes: ["a:b"] } }), "name"],
        [
          await world.call("POST", "/v1/keys", {
            key: world.rootKey,
            body: { name: "k", scopes: ["a:b"], owner: text },
          }),
          "owner",
        ],
        [await world.call("POST", "/v1/sessions", { key: sender.secret, body: { user_id: text } }), "user_id"],
        [await world.call("POST", "/v1/tenants", { key: world.rootKey, body: { name: text } }), "name"],
      ] as const;
      for (const [answer, path] of refusals) {
        expectError(answer, 400, "VALIDATION_FAILED");
        expect(answer.body.error.details).toEqual([
          { path, message: "must not contain control characters or bidirectional controls" },
        ]);
      }
      const cli = await world.call("POST", "/v1/api/auth/sessions", { body: { deviceName: text } });
      expect({ status: cli.status, code: cli.body.code }).toEqual({ status: 400, code: "VALIDATION_FAILED" });
    }
    const keys = await world.call("GET", "/v1/keys", { key: world.rootKey });
    expect(keys.body.data.length).toBe(2);
    // Right-to-left text itself is fine: only the invisible controls that reorder what is shown are refused.
    expect((await createKey(world, { scopes: ["a:b"], name: "مفتاح الفوترة", owner: "משתמש" })).body.name).toBe(
      "مفتاح الفوترة",
    );
  });

  test("the error body never echoes the submitted values", async () => {
    const marker = "sk_live_this_is_not_a_real_secret_but_marks_echoes";
    const answer = await world.call("POST", "/v1/keys", {
      key: world.rootKey,
      body: { name: marker, scopes: [marker] },
    });
    expectError(answer, 400, "VALIDATION_FAILED");
    expect(answer.text).not.toContain(marker);
  });

  test("a key can only grant scopes it holds; the refusal names each missing scope", async () => {
    const granter = await createKey(world, { scopes: ["keys:write", "runs:read"] });
    const answer = await world.call("POST", "/v1/keys", {
      key: granter.secret,
      body: { name: "k", scopes: ["runs:read", "runs:write", "billing:read"] },
    });
    expectError(answer, 403, "SCOPE_NOT_GRANTED");
    expect(answer.body.error.details).toEqual([
      { path: "scopes[1]", message: "runs:write" },
      { path: "scopes[2]", message: "billing:read" },
    ]);
    const allowed = await world.call("POST", "/v1/keys", {
      key: granter.secret,
      body: { name: "k", scopes: ["runs:read"] },
    });
    expect(allowed.status).toBe(200);
  });

  test("creating needs keys:write", async () => {
    const reader = await createKey(world, { scopes: ["keys:read", "runs:read"] });
    const answer = await world.call("POST", "/v1/keys", {
      key: reader.secret,
      body: { name: "k", scopes: ["runs:read"] },
    });
    expectError(answer, 403, "SCOPE_NOT_GRANTED");
    expect(answer.body.error.details).toEqual([{ path: "scopes", message: "keys:write" }]);
  });

  test("the root key may grant any scope and create keys in any project", async () => {
    const { projectId } = await createTenantWithKey(world, ["keys:read"]);
    const answer = await world.call("POST", "/v1/keys", {
      key: world.rootKey,
      body: { name: "k", scopes: ["anything:at-all"], project_id: projectId },
    });
    expect(answer.status).toBe(200);
    expect(answer.body.project_id).toBe(projectId);
  });

  test("a project key naming another project's id gets 404, and nothing is created there", async () => {
    const other = await createTenantWithKey(world, ["keys:read"]);
    const writer = await createKey(world, { scopes: ["keys:write", "runs:read"] });
    const answer = await world.call("POST", "/v1/keys", {
      key: writer.secret,
      body: { name: "k", scopes: ["runs:read"], project_id: other.projectId },
    });
    expectError(answer, 404, "NOT_FOUND");
    const listed = await world.call("GET", `/v1/keys?project_id=${other.projectId}`, { key: world.rootKey });
    expect(listed.body.data.map((key: { id: string }) => key.id)).toEqual([other.key.id]);
  });

  test("the root key naming an unknown project gets 404", async () => {
    const answer = await world.call("POST", "/v1/keys", {
      key: world.rootKey,
      body: { name: "k", scopes: ["a:b"], project_id: "prj_0000000000000000000000" },
    });
    expectError(answer, 404, "NOT_FOUND");
  });

  test("secrets use the project's prefix", async () => {
    const tenant = await world.call("POST", "/v1/tenants", { key: world.rootKey, body: { name: "t" } });
    const project = await world.call("POST", "/v1/projects", {
      key: world.rootKey,
      body: { tenant_id: tenant.body.id, name: "p", key_prefix: "acme_test_" },
    });
    const key = await createKey(world, { scopes: ["a:b"], project_id: project.body.id });
    expect(key.secret).toStartWith("acme_test_");
    expect(isWellFormedSecret(key.secret)).toBe(true);
  });

  test("repeated scopes are kept once", async () => {
    const key = await createKey(world, { scopes: ["runs:read", "runs:read"] });
    expect(key.body.scopes).toEqual(["runs:read"]);
  });
});
