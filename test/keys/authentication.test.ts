import { expect, test } from "bun:test";
import { generateSecret } from "../../src/domain/keys/secret.ts";
import { createKey, createTenantWithKey, expectError, mintSession } from "../support/keys.ts";
import { forEachTransport, useWorld } from "../support/transports.ts";

forEachTransport("credentials", (transport) => {
  const world = useWorld({ transport });

  function expectChallenge(answer: { headers: Headers }, invalidToken: boolean) {
    expect(answer.headers.get("www-authenticate")).toBe(
      invalidToken ? 'Bearer realm="latchkey", error="invalid_token"' : 'Bearer realm="latchkey"',
    );
  }

  test("no Authorization header is API_KEY_REQUIRED with a Bearer challenge", async () => {
    const answer = await world.call("GET", "/v1/keys");
    expectError(answer, 401, "API_KEY_REQUIRED");
    expectChallenge(answer, false);
  });

  test("another scheme or an empty bearer is API_KEY_REQUIRED", async () => {
    for (const authorization of ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "Token abc"]) {
      const answer = await world.call("GET", "/v1/keys", { headers: { authorization } });
      expectError(answer, 401, "API_KEY_REQUIRED");
    }
  });

  test("malformed, bad-checksum and unknown keys are all API_KEY_INVALID", async () => {
    const real = await createKey(world, { scopes: ["keys:read"] });
    const lastCharacter = real.secret.at(-1)!;
    const candidates = [
      "not-a-key",
      "sk_live_short",
      real.secret.slice(0, -1) + (lastCharacter === "a" ? "b" : "a"), // checksum no longer matches
      real.secret.replace("sk_live_", "sk_test_"), // prefix is covered by the checksum
      `${real.secret}x`,
      "x".repeat(10_000),
      generateSecret("sk_live_"), // well-formed but never issued
    ];
    for (const candidate of candidates) {
      const answer = await world.call("GET", "/v1/keys", { key: candidate });
      expectError(answer, 401, "API_KEY_INVALID");
      expectChallenge(answer, true);
      expect(answer.text).not.toContain(candidate.slice(0, 40));
    }
  });

  test("regression: a session token sent as a bearer key is refused with a hint to use X-Session-Token", async () => {
    const key = await createKey(world, { scopes: ["keys:read"] });
    const token = await mintSession(world, key.secret, { scopes: ["keys:read"] });
    const answer = await world.call("GET", "/v1/keys", { key: token });
    expectError(answer, 401, "API_KEY_INVALID");
    expect(answer.body.error.details).toEqual([
      { path: "Authorization", message: "carries a session token: send session tokens as X-Session-Token" },
    ]);
    expect(answer.text).not.toContain(token.slice(0, 40));
  });

  test("a key presented with another project's X-Project-Id is API_KEY_INVALID, like an unknown key", async () => {
    const other = await createTenantWithKey(world, ["keys:read"]);
    const mine = await createKey(world, { scopes: ["keys:read"] });
    const answer = await world.call("GET", "/v1/keys", {
      key: mine.secret,
      headers: { "x-project-id": other.projectId },
    });
    expectError(answer, 401, "API_KEY_INVALID");
    const own = await world.call("GET", "/v1/keys", {
      key: mine.secret,
      headers: { "x-project-id": world.defaultProjectId },
    });
    expect(own.status).toBe(200);
  });

  test("a revoked key is API_KEY_REVOKED on the very next request", async () => {
    const key = await createKey(world, { scopes: ["keys:read"] });
    expect((await world.call("GET", "/v1/keys", { key: key.secret })).status).toBe(200);
    expect((await world.call("DELETE", `/v1/keys/${key.id}`, { key: world.rootKey })).status).toBe(200);
    const answer = await world.call("GET", "/v1/keys", { key: key.secret });
    expectError(answer, 401, "API_KEY_REVOKED");
    expectChallenge(answer, true);
  });

  test("a key is API_KEY_EXPIRED from its expires_at on, not a millisecond before", async () => {
    const key = await createKey(world, { scopes: ["keys:read"], expires_at: "2026-01-01T01:00:00Z" });
    world.clock.advanceMilliseconds(60 * 60 * 1000 - 1);
    expect((await world.call("GET", "/v1/keys", { key: key.secret })).status).toBe(200);
    world.clock.advanceMilliseconds(1);
    expectError(await world.call("GET", "/v1/keys", { key: key.secret }), 401, "API_KEY_EXPIRED");
  });

  test("a key lacking the route's scope is 403 SCOPE_NOT_GRANTED naming it", async () => {
    const key = await createKey(world, { scopes: ["runs:read"] });
    const answer = await world.call("GET", "/v1/keys", { key: key.secret });
    expectError(answer, 403, "SCOPE_NOT_GRANTED");
    expect(answer.body.error.details).toEqual([{ path: "scopes", message: "keys:read" }]);
  });

  test("a project key on a root route is 403 and the root key passes", async () => {
    const key = await createKey(world, { scopes: ["keys:read", "keys:write"] });
    expectError(await world.call("GET", "/v1/tenants", { key: key.secret }), 403, "SCOPE_NOT_GRANTED");
    expect((await world.call("GET", "/v1/tenants", { key: world.rootKey })).status).toBe(200);
  });

  test("the scheme name is case-insensitive", async () => {
    const key = await createKey(world, { scopes: ["keys:read"] });
    const answer = await world.call("GET", "/v1/keys", { headers: { authorization: `bearer ${key.secret}` } });
    expect(answer.status).toBe(200);
  });
});
