import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from "jose";
import { secretVersionOf } from "../../src/auth/principal.ts";
import { hashSecret } from "../../src/domain/keys/secret.ts";
import { signSessionToken } from "../../src/domain/sessions/tokens.ts";
import { createKey, createTenantWithKey, expectError, mintSession } from "../support/keys.ts";
import { forEachTransport, useWorld } from "../support/transports.ts";
import { createWorld, type World } from "../support/world.ts";

forEachTransport("POST /v1/sessions", (transport) => {
  const world = useWorld({ transport });

  test("mints a 15-minute EdDSA token with the parent's read scopes by default, keys:read only by name", async () => {
    const key = await createKey(world, { scopes: ["runs:read", "runs:write", "keys:read"] });
    const answer = await world.call("POST", "/v1/sessions", { key: key.secret, body: { user_id: "user_42" } });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      object: "session",
      token: expect.any(String),
      expires_at: "2026-01-01T00:15:00.000Z",
      scopes: ["runs:read"],
    });
    const named = await mintSession(world, key.secret, { scopes: ["runs:read", "keys:read"] });
    expect(decodeJwt(named).scp).toEqual(["runs:read", "keys:read"]);
    const header = decodeProtectedHeader(answer.body.token);
    expect(header).toEqual({ alg: "EdDSA", typ: "lk-session+jwt", kid: expect.stringMatching(/^sig_/) });
    const claims = decodeJwt(answer.body.token);
    expect(claims).toEqual({
      iss: "http://localhost:8787",
      aud: world.defaultProjectId,
      sub: "user_42",
      key: key.id,
      kv: expect.stringMatching(/^[0-9a-f]{16}$/),
      scp: ["runs:read"],
      jti: expect.stringMatching(/^ses_/),
      iat: Date.parse("2026-01-01T00:00:00Z") / 1000,
      exp: Date.parse("2026-01-01T00:15:00Z") / 1000,
    });
  });

  test("verifies offline against the published JWKS with everything pinned", async () => {
    const key = await createKey(world, { scopes: ["runs:read"] });
    const token = await mintSession(world, key.secret);
    const jwks = (await world.call("GET", "/.well-known/jwks.json")).body;
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), {
      algorithms: ["EdDSA"],
      issuer: "http://localhost:8787",
      audience: world.defaultProjectId,
      typ: "lk-session+jwt",
      maxTokenAge: "15m",
      currentDate: new Date(world.clock.nowMilliseconds()),
    });
    expect(payload.sub).toBe("user_42");
  });

  test("asked scopes must be a subset of the parent's; the refusal names the others", async () => {
    const key = await createKey(world, { scopes: ["runs:read", "runs:write"] });
    const granted = await world.call("POST", "/v1/sessions", {
      key: key.secret,
      body: { user_id: "u", scopes: ["runs:write"] },
    });
    expect(granted.body.scopes).toEqual(["runs:write"]);
    const refused = await world.call("POST", "/v1/sessions", {
      key: key.secret,
      body: { user_id: "u", scopes: ["runs:read", "billing:read", "keys:write"] },
    });
    expectError(refused, 403, "SCOPE_NOT_GRANTED");
    expect(refused.body.error.details).toEqual([
      { path: "scopes[1]", message: "billing:read" },
      { path: "scopes[2]", message: "keys:write" },
    ]);
  });

  test("the lifetime is the project's session_ttl_seconds", async () => {
    const tenant = await world.call("POST", "/v1/tenants", { key: world.rootKey, body: { name: "t" } });
    const project = await world.call("POST", "/v1/projects", {
      key: world.rootKey,
      body: { tenant_id: tenant.body.id, name: "p", session_ttl_seconds: 120 },
    });
    const key = await createKey(world, { scopes: ["a:read"], project_id: project.body.id });
    const answer = await world.call("POST", "/v1/sessions", { key: key.secret, body: { user_id: "u" } });
    expect(answer.body.expires_at).toBe("2026-01-01T00:02:00.000Z");
  });

  const badBodies: [string, unknown, string][] = [
    ["no user_id", {}, "user_id"],
    ["an empty user_id", { user_id: "" }, "user_id"],
    ["a user_id over 256 characters", { user_id: "u".repeat(257) }, "user_id"],
    ["a wildcard scope", { user_id: "u", scopes: ["runs:*"] }, "scopes[0]"],
    ["an unknown field", { user_id: "u", ttl: 5 }, "ttl"],
  ];
  for (const [label, body, path] of badBodies) {
    test(`refuses ${label} (400 at ${path})`, async () => {
      const key = await createKey(world, { scopes: ["runs:read"] });
      const answer = await world.call("POST", "/v1/sessions", { key: key.secret, body });
      expectError(answer, 400, "VALIDATION_FAILED");
      expect(answer.body.error.details.map((detail: { path: string }) => detail.path)).toContain(path);
    });
  }

  test("the token authenticates on routes that take sessions, with its own scopes", async () => {
    const key = await createKey(world, { scopes: ["keys:read", "keys:write"] });
    const reader = await mintSession(world, key.secret, { scopes: ["keys:read"] });
    expect((await world.call("GET", "/v1/keys", { headers: { "x-session-token": reader } })).status).toBe(200);
    const refused = await world.call("POST", "/v1/keys", {
      headers: { "x-session-token": reader },
      body: { name: "k", scopes: ["keys:read"] },
    });
    expectError(refused, 403, "SCOPE_NOT_GRANTED");
  });

  test("a token is SESSION_EXPIRED from exp on", async () => {
    const key = await createKey(world, { scopes: ["keys:read"] });
    const token = await mintSession(world, key.secret, { scopes: ["keys:read"] });
    world.clock.advanceMilliseconds(15 * 60 * 1000 - 1);
    expect((await world.call("GET", "/v1/keys", { headers: { "x-session-token": token } })).status).toBe(200);
    world.clock.advanceMilliseconds(1);
    const answer = await world.call("GET", "/v1/keys", { headers: { "x-session-token": token } });
    expectError(answer, 401, "SESSION_EXPIRED");
    expect(answer.headers.get("www-authenticate")).toContain("Bearer");
  });

  test("minting needs the key itself, not a session token", async () => {
    const key = await createKey(world, { scopes: ["keys:read"] });
    const token = await mintSession(world, key.secret, { scopes: ["keys:read"] });
    const answer = await world.call("POST", "/v1/sessions", {
      headers: { "x-session-token": token },
      body: { user_id: "u" },
    });
    expectError(answer, 401, "API_KEY_REQUIRED");
  });

  test("a session token never reaches root routes", async () => {
    const key = await createKey(world, { scopes: ["keys:read", "keys:write"] });
    const token = await mintSession(world, key.secret, { scopes: ["keys:read", "keys:write"] });
    expectError(
      await world.call("GET", "/v1/tenants", { headers: { "x-session-token": token } }),
      403,
      "SCOPE_NOT_GRANTED",
    );
  });

  test("sent with a key, the token must have been minted from that key", async () => {
    const first = await createKey(world, { scopes: ["keys:read"] });
    const second = await createKey(world, { scopes: ["keys:read"] });
    const token = await mintSession(world, first.secret, { scopes: ["keys:read"] });
    expect(
      (await world.call("GET", "/v1/keys", { key: first.secret, headers: { "x-session-token": token } })).status,
    ).toBe(200);
    expectError(
      await world.call("GET", "/v1/keys", { key: second.secret, headers: { "x-session-token": token } }),
      401,
      "SESSION_INVALID",
    );
  });

  test("a token of another project is refused when the caller names its project", async () => {
    const other = await createTenantWithKey(world, ["keys:read"]);
    const token = await mintSession(world, other.key.secret, { scopes: ["keys:read"] });
    const answer = await world.call("GET", "/v1/keys", {
      headers: { "x-session-token": token, "x-project-id": world.defaultProjectId },
    });
    expectError(answer, 401, "SESSION_INVALID");
  });
});

describe("a token dies with its parent", () => {
  let world: World;
  beforeEach(async () => {
    world = await createWorld();
  });
  afterEach(() => world.close());

  const use = (token: string) => world.call("GET", "/v1/keys", { headers: { "x-session-token": token } });

  test("revoking the parent refuses its tokens on the next request", async () => {
    const key = await createKey(world, { scopes: ["keys:read"] });
    const token = await mintSession(world, key.secret, { scopes: ["keys:read"] });
    expect((await use(token)).status).toBe(200);
    await world.call("DELETE", `/v1/keys/${key.id}`, { key: world.rootKey });
    expectError(await use(token), 401, "API_KEY_REVOKED");
  });

  test("rotating the parent out refuses tokens minted from the old secret once its grace ends", async () => {
    const key = await createKey(world, { scopes: ["keys:read"] });
    const oldToken = await mintSession(world, key.secret, { scopes: ["keys:read"] });
    const rotated = await world.call("POST", `/v1/keys/${key.id}/rotate`, {
      key: world.rootKey,
      body: { grace_seconds: 30 },
    });
    const newToken = await mintSession(world, rotated.body.secret, { scopes: ["keys:read"] });
    expect((await use(oldToken)).status).toBe(200);
    world.clock.advanceSeconds(30);
    expectError(await use(oldToken), 401, "API_KEY_REVOKED");
    expect((await use(newToken)).status).toBe(200);
  });

  test("suspending the tenant or disabling sessions refuses its tokens", async () => {
    const { tenantId, key } = await createTenantWithKey(world, ["keys:read"]);
    const token = await mintSession(world, key.secret, { scopes: ["keys:read"] });
    await world.call("PATCH", `/v1/tenants/${tenantId}`, { key: world.rootKey, body: { status: "suspended" } });
    expectError(await use(token), 403, "TENANT_SUSPENDED");
    await world.call("PATCH", `/v1/tenants/${tenantId}`, {
      key: world.rootKey,
      body: { status: "active", modules: ["keys", "cli_login", "verify"] },
    });
    expectError(await use(token), 403, "MODULE_NOT_ENABLED");
  });

  test("the parent's expiry ends its tokens: their exp is capped to it, and the parent is checked anyway", async () => {
    const key = await createKey(world, { scopes: ["keys:read"], expires_at: "2026-01-01T00:05:00Z" });
    const token = await mintSession(world, key.secret, { scopes: ["keys:read"] });
    // A token an earlier version minted past its parent's expiry: the parent check still ends it.
    const uncapped = await signSessionToken(
      world.deps.sessions.ring,
      world.deps.settings.publicUrl,
      {
        projectId: world.defaultProjectId,
        subject: "u",
        parentKeyId: key.id,
        parentSecretVersion: secretVersionOf(hashSecret(key.secret)),
        scopes: ["keys:read"],
        lifetimeSeconds: 900,
        notAfterMs: null,
      },
      world.clock.nowMilliseconds(),
    );
    world.clock.advanceSeconds(300);
    expectError(await use(token), 401, "SESSION_EXPIRED");
    expectError(await use(uncapped.token), 401, "API_KEY_EXPIRED");
  });

  test("regression: a token never outlives its parent key's expiry, even for an offline verifier", async () => {
    const jwks = createLocalJWKSet((await world.call("GET", "/.well-known/jwks.json")).body);
    const offline = (token: string, atMilliseconds: number) =>
      jwtVerify(token, jwks, {
        algorithms: ["EdDSA"],
        issuer: "http://localhost:8787",
        typ: "lk-session+jwt",
        currentDate: new Date(atMilliseconds),
      });
    await world.call("PATCH", `/v1/projects/${world.defaultProjectId}`, {
      key: world.rootKey,
      body: { allowed_origins: ["https://app.example.com"] },
    });
    const expiresAtMs = world.clock.nowMilliseconds() + 3_000;
    const key = await createKey(world, { scopes: ["runs:read"], expires_at: new Date(expiresAtMs).toISOString() });
    const endUser = await world.call("POST", "/v1/sessions", { key: key.secret, body: { user_id: "u" } });
    expect(endUser.body.expires_at).toBe(new Date(expiresAtMs).toISOString());
    const browser = await world.call("POST", "/api/v1/sessions", {
      key: key.secret,
      headers: { origin: "https://app.example.com" },
    });
    expect(browser.body.data.expiresAt).toBe(new Date(expiresAtMs).toISOString());
    for (const token of [endUser.body.token, browser.body.data.sessionToken]) {
      expect(decodeJwt(token).exp).toBe(expiresAtMs / 1000);
      expect((await offline(token, expiresAtMs - 1_000)).payload.key).toBe(key.id);
      expect(offline(token, expiresAtMs)).rejects.toMatchObject({ code: "ERR_JWT_EXPIRED" });
    }
  });

  test("regression: a token minted from a secret in its rotation grace ends with that grace", async () => {
    const key = await createKey(world, { scopes: ["runs:read"] });
    await world.call("POST", `/v1/keys/${key.id}/rotate`, { key: world.rootKey, body: { grace_seconds: 60 } });
    const answer = await world.call("POST", "/v1/sessions", { key: key.secret, body: { user_id: "u" } });
    expect(answer.body.expires_at).toBe(new Date(world.clock.nowMilliseconds() + 60_000).toISOString());
  });

  test("minting needs the sessions module", async () => {
    const { tenantId, key } = await createTenantWithKey(world, ["keys:read"]);
    await world.call("PATCH", `/v1/tenants/${tenantId}`, { key: world.rootKey, body: { modules: ["keys"] } });
    const answer = await world.call("POST", "/v1/sessions", { key: key.secret, body: { user_id: "u" } });
    expectError(answer, 403, "MODULE_NOT_ENABLED");
  });
});
