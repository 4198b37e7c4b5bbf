import { describe, expect, test } from "bun:test";
import { generateSecret } from "../../src/domain/keys/secret.ts";
import {
  createKey,
  createProject,
  createTenant,
  createTenantWithKey,
  expectError,
  mintSession,
} from "../support/keys.ts";
import { forEachTransport, useWorld } from "../support/transports.ts";
import { createWorld } from "../support/world.ts";

forEachTransport("POST /v1/keys/verify", (transport) => {
  const world = useWorld({ transport });

  const verify = (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    world.call("POST", "/v1/keys/verify", { body, headers });

  test("a valid key: 200 with the contract's fields and its bucket", async () => {
    const key = await createKey(world, {
      scopes: ["runs:read", "runs:write"],
      owner: "user_7",
      expires_at: "2026-06-01T00:00:00Z",
    });
    const answer = await verify({ key: key.secret, scopes: ["runs:read"] });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      valid: true,
      code: "VALID",
      key_id: key.id,
      project_id: world.defaultProjectId,
      tenant_id: world.defaultTenantId,
      meta: null,
      owner: "user_7",
      scopes: ["runs:read", "runs:write"],
      expires_at: "2026-06-01T00:00:00.000Z",
      ratelimit: { limit: 1000, remaining: 999, reset: Date.parse("2026-01-01T00:00:00.060Z") },
      details: [],
    });
    expect(answer.headers.get("x-ratelimit-remaining")).toBe("999");
  });

  test("a valid session token: the parent's ids, the end user as owner, the token's scopes", async () => {
    const key = await createKey(world, { scopes: ["runs:read", "runs:write"] });
    const token = await mintSession(world, key.secret, { user_id: "user_9", scopes: ["runs:read"] });
    const answer = await verify({ token, scopes: ["runs:read"] });
    expect(answer.body).toMatchObject({
      valid: true,
      code: "VALID",
      key_id: key.id,
      owner: "user_9",
      scopes: ["runs:read"],
      expires_at: "2026-01-01T00:15:00.000Z",
    });
    expect((await verify({ token, scopes: ["runs:write"] })).body).toMatchObject({
      valid: false,
      code: "SCOPE_NOT_GRANTED",
    });
  });

  test("every refusal is 200 with valid:false and the deciding code", async () => {
    const expectCode = async (body: Record<string, unknown>, code: string, headers?: Record<string, string>) => {
      const answer = await verify(body, headers);
      expect({ status: answer.status, valid: answer.body.valid, code: answer.body.code }).toEqual({
        status: 200,
        valid: false,
        code,
      });
      return answer;
    };
    const invalid = await expectCode({ key: "garbage" }, "API_KEY_INVALID");
    expect(invalid.body).toMatchObject({ key_id: null, project_id: null, scopes: [], ratelimit: null });
    await expectCode({ key: generateSecret("sk_live_") }, "API_KEY_INVALID");
    const other = await createTenantWithKey(world, ["runs:read"]);
    await expectCode({ key: other.key.secret }, "API_KEY_INVALID", { "x-project-id": world.defaultProjectId });

    const revoked = await createKey(world, { scopes: ["runs:read"] });
    await world.call("DELETE", `/v1/keys/${revoked.id}`, { key: world.rootKey });
    await expectCode({ key: revoked.secret }, "API_KEY_REVOKED");

    const expiring = await createKey(world, { scopes: ["runs:read"], expires_at: "2026-01-01T00:00:01Z" });
    world.clock.advanceSeconds(1);
    await expectCode({ key: expiring.secret }, "API_KEY_EXPIRED");

    for (const [change, code] of [
      [{ status: "suspended" }, "TENANT_SUSPENDED"],
      [{ status: "active", subscription: "cancelled" }, "SUBSCRIPTION_CANCELLED"],
      [{ subscription: "past_due" }, "SUBSCRIPTION_PAST_DUE"],
      [{ subscription: "active", modules: ["keys", "sessions"] }, "MODULE_NOT_ENABLED"],
    ] as const) {
      await world.call("PATCH", `/v1/tenants/${other.tenantId}`, { key: world.rootKey, body: change });
      await expectCode({ key: other.key.secret }, code);
    }

    const browserProject = await createProject(world, await createTenant(world), {
      allowed_origins: ["https://app.example.com"],
    });
    const browserKey = await createKey(world, { scopes: ["runs:read"], project_id: browserProject });
    await expectCode({ key: browserKey.secret, origin: "https://evil.example.net" }, "ORIGIN_NOT_ALLOWED");
    expect((await verify({ key: browserKey.secret, origin: "https://app.example.com" })).body.valid).toBe(true);

    const narrow = await createKey(world, { scopes: ["runs:read"] });
    await expectCode({ key: narrow.secret, scopes: ["runs:write"] }, "SCOPE_NOT_GRANTED");

    await expectCode({ token: "not.a.token" }, "SESSION_INVALID");
    const token = await mintSession(world, narrow.secret);
    world.clock.advanceSeconds(15 * 60);
    await expectCode({ token }, "SESSION_EXPIRED");
  });

  test("regression: the root key is never valid for an API (ROOT_KEY_NOT_ALLOWED), pinned or not", async () => {
    const pinnings: Record<string, string>[] = [
      {},
      { "x-project-id": await createProject(world, await createTenant(world)) },
    ];
    for (const headers of pinnings) {
      const answer = await verify({ key: world.rootKey, scopes: ["runs:write"] }, headers);
      expect(answer.body).toMatchObject({ valid: false, code: "ROOT_KEY_NOT_ALLOWED", ratelimit: null });
    }
    expect((await verify({ key: world.rootKey })).body.valid).toBe(false);
  });

  test("regression: SCOPE_NOT_GRANTED names the key it refused and each missing scope", async () => {
    const key = await createKey(world, { scopes: ["runs:read"], owner: "user_3" });
    const answer = await verify({ key: key.secret, scopes: ["runs:read", "runs:write", "billing:read"] });
    expect(answer.body).toMatchObject({
      valid: false,
      code: "SCOPE_NOT_GRANTED",
      key_id: key.id,
      project_id: world.defaultProjectId,
      owner: "user_3",
      scopes: ["runs:read"],
      ratelimit: null,
      details: [
        { path: "scopes", message: "runs:write" },
        { path: "scopes", message: "billing:read" },
      ],
    });
    const token = await mintSession(world, key.secret, { user_id: "user_8", scopes: ["runs:read"] });
    const fromToken = await verify({ token, scopes: ["runs:write"] });
    expect(fromToken.body).toMatchObject({
      code: "SCOPE_NOT_GRANTED",
      key_id: key.id,
      owner: "user_8",
      details: [{ path: "scopes", message: "runs:write" }],
    });
    const unknown = await verify({ key: generateSecret("sk_live_"), scopes: ["runs:write"] });
    expect(unknown.body).toMatchObject({ code: "API_KEY_INVALID", key_id: null, details: [] });
  });

  test("RATE_LIMITED once the key's bucket is empty, with the bucket's state", async () => {
    const key = await createKey(world, { scopes: ["runs:read"] });
    await world.call("PATCH", `/v1/keys/${key.id}`, {
      key: world.rootKey,
      body: { ratelimit: { limit: 2, window_seconds: 60 } },
    });
    expect((await verify({ key: key.secret })).body.ratelimit.remaining).toBe(1);
    expect((await verify({ key: key.secret })).body.ratelimit.remaining).toBe(0);
    const limited = await verify({ key: key.secret });
    expect(limited.status).toBe(200);
    expect(limited.body).toMatchObject({
      valid: false,
      code: "RATE_LIMITED",
      key_id: key.id,
      ratelimit: { limit: 2, remaining: 0 },
    });
    expect(limited.headers.get("retry-after")).toBe("30");
  });

  test("only a malformed body is a 400", async () => {
    const key = await createKey(world, { scopes: ["runs:read"] });
    const token = await mintSession(world, key.secret);
    for (const body of [
      {},
      { key: key.secret, token },
      { key: 7 },
      { key: key.secret, scopes: ["*"] },
      { key: key.secret, extra: 1 },
    ]) {
      expectError(await verify(body), 400, "VALIDATION_FAILED");
    }
  });
});

describe("POST /v1/keys/verify with text that cannot be a credential", () => {
  test("non-ASCII and control characters in key, token or origin are refusals (regression: a 500)", async () => {
    const world = await createWorld();
    try {
      for (const body of [
        { key: "㏓" },
        { key: "sk_live_\u0000" },
        { token: "tök.en.x" },
        { key: "sk_live_x", origin: "https://äpp.example" },
      ]) {
        const answer = await world.call("POST", "/v1/keys/verify", { body });
        expect(answer.status).toBe(200);
        expect(answer.body.valid).toBe(false);
      }
    } finally {
      await world.close();
    }
  });
});
