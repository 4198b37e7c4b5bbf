import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import {
  createKey,
  createProject,
  createTenant,
  createTenantWithKey,
  expectError,
  mintBrowserSession,
  mintSession,
} from "../support/keys.ts";
import { forEachTransport, useWorld } from "../support/transports.ts";
import { createWorld, type World } from "../support/world.ts";

forEachTransport("/v1/authz", (transport) => {
  const world = useWorld({ transport });

  test("allowed: 200 with the identity and rate-limit headers, for any method", async () => {
    const key = await createKey(world, { scopes: ["runs:read", "runs:write"] });
    for (const method of ["GET", "POST", "PUT", "PATCH", "DELETE"]) {
      const answer = await world.call(method, "/v1/authz?scopes=runs:read,runs:write", { key: key.secret });
      expect(answer.status).toBe(200);
      expect(answer.headers.get("x-latchkey-key-id")).toBe(key.id);
      expect(answer.headers.get("x-latchkey-project-id")).toBe(world.defaultProjectId);
      expect(answer.headers.get("x-latchkey-tenant-id")).toBe(world.defaultTenantId);
      expect(answer.headers.get("x-latchkey-subject")).toBe(key.id);
      expect(answer.headers.get("x-latchkey-scopes")).toBe("runs:read,runs:write");
      expect(answer.headers.get("x-ratelimit-limit")).toBe("1000");
      expect(answer.headers.get("ratelimit-policy")).toBe('"key";q=1000;w=60');
      expect(answer.headers.get("ratelimit")).toMatch(/^"key";r=\d+;t=\d+$/);
    }
  });

  test("a session token's subject is its end user", async () => {
    const key = await createKey(world, { scopes: ["runs:read"] });
    const token = await mintSession(world, key.secret, { user_id: "user_5" });
    const answer = await world.call("GET", "/v1/authz", { headers: { "x-session-token": token } });
    expect(answer.headers.get("x-latchkey-subject")).toBe("user_5");
    expect(answer.headers.get("x-latchkey-key-id")).toBe(key.id);
  });

  test("refused: 401, 403 or 429 in the envelope", async () => {
    expectError(await world.call("GET", "/v1/authz"), 401, "API_KEY_REQUIRED");
    expectError(await world.call("GET", "/v1/authz", { key: "nope" }), 401, "API_KEY_INVALID");
    const reader = await createKey(world, { scopes: ["runs:read"] });
    const refused = await world.call("GET", "/v1/authz?scopes=runs:write", { key: reader.secret });
    expectError(refused, 403, "SCOPE_NOT_GRANTED");
    expect(refused.body.error.details).toEqual([{ path: "scopes", message: "runs:write" }]);
    const { tenantId, key } = await createTenantWithKey(world, ["runs:read"]);
    await world.call("PATCH", `/v1/tenants/${tenantId}`, { key: world.rootKey, body: { modules: ["keys"] } });
    expectError(await world.call("GET", "/v1/authz", { key: key.secret }), 403, "MODULE_NOT_ENABLED");
  });

  test("429 carries Retry-After, and a retry after it is admitted", async () => {
    const key = await createKey(world, { scopes: ["runs:read"] });
    await world.call("PATCH", `/v1/keys/${key.id}`, {
      key: world.rootKey,
      body: { ratelimit: { limit: 3, window_seconds: 30 } },
    });
    for (let index = 0; index < 3; index++)
      expect((await world.call("GET", "/v1/authz", { key: key.secret })).status).toBe(200);
    const limited = await world.call("GET", "/v1/authz", { key: key.secret });
    expectError(limited, 429, "RATE_LIMITED");
    expect(limited.headers.get("retry-after")).toBe("10");
    expect(limited.headers.get("x-ratelimit-remaining")).toBe("0");
    world.clock.advanceSeconds(9);
    expectError(await world.call("GET", "/v1/authz", { key: key.secret }), 429, "RATE_LIMITED");
    world.clock.advanceSeconds(1);
    expect((await world.call("GET", "/v1/authz", { key: key.secret })).status).toBe(200);
  });

  test("the browser rule applies to the original method", async () => {
    const projectId = await createProject(world, await createTenant(world), {
      allowed_origins: ["https://app.example.com"],
    });
    const key = await createKey(world, { scopes: ["runs:write"], project_id: projectId });
    const origin = "https://app.example.com";
    const read = await world.call("GET", "/v1/authz", {
      key: key.secret,
      headers: { origin, "x-forwarded-method": "GET" },
    });
    expect(read.status).toBe(200);
    for (const header of ["x-forwarded-method", "x-original-method"]) {
      const write = await world.call("GET", "/v1/authz", { key: key.secret, headers: { origin, [header]: "POST" } });
      expectError(write, 401, "SESSION_REQUIRED");
    }
    const token = await mintBrowserSession(world, key.secret, origin);
    const withSession = await world.call("GET", "/v1/authz", {
      headers: { origin, "x-forwarded-method": "DELETE", "x-session-token": token },
    });
    expect(withSession.status).toBe(200);
  });

  test("regression: a user id outside Latin-1 reaches X-Latchkey-Subject percent-encoded, never a 500", async () => {
    const key = await createKey(world, { scopes: ["runs:read"] });
    for (const userId of ["日本", "zoë", "🦊 fox", "line\u2028separator", "100%", "user_42"]) {
      const token = await mintSession(world, key.secret, { user_id: userId });
      const answer = await world.call("GET", "/v1/authz", { headers: { "x-session-token": token } });
      expect(answer.status).toBe(200);
      const subject = answer.headers.get("x-latchkey-subject")!;
      expect(subject).toMatch(/^[\x21-\x7e]+$/);
      expect(decodeURIComponent(subject)).toBe(userId);
      expect(answer.body.subject).toBe(userId);
    }
  });

  test("regression: conflicting method headers are refused; unknown and unsafe methods count as writes", async () => {
    const projectId = await createProject(world, await createTenant(world), {
      allowed_origins: ["https://app.example.com"],
    });
    const key = await createKey(world, { scopes: ["runs:write"], project_id: projectId });
    const origin = "https://app.example.com";
    const conflicting = await world.call("GET", "/v1/authz", {
      key: key.secret,
      headers: { origin, "x-forwarded-method": "GET", "x-original-method": "POST" },
    });
    expectError(conflicting, 400, "VALIDATION_FAILED");
    expect(conflicting.body.error.details[0].path).toBe("x-forwarded-method");
    const notAMethod = await world.call("GET", "/v1/authz", {
      key: key.secret,
      headers: { origin, "x-original-method": "GET, POST" },
    });
    expectError(notAMethod, 400, "VALIDATION_FAILED");
    for (const method of ["PROPFIND", "MKCOL", "TRACE", "CONNECT", "purge"]) {
      const write = await world.call("GET", "/v1/authz", {
        key: key.secret,
        headers: { origin, "x-original-method": method },
      });
      expectError(write, 401, "SESSION_REQUIRED");
    }
    for (const method of ["GET", "HEAD", "OPTIONS"]) {
      const read = await world.call("GET", "/v1/authz", {
        key: key.secret,
        headers: { origin, "x-forwarded-method": method },
      });
      expect(read.status).toBe(200);
    }
    const agreeing = await world.call("GET", "/v1/authz", {
      key: key.secret,
      headers: { origin, "x-forwarded-method": " GET", "x-original-method": "GET " },
    });
    expect(agreeing.status).toBe(200);
  });

  test("regression: method names are case-sensitive, so a lower-case get is an unknown method: a write", async () => {
    const projectId = await createProject(world, await createTenant(world), {
      allowed_origins: ["https://app.example.com"],
    });
    const key = await createKey(world, { scopes: ["runs:write"], project_id: projectId });
    const origin = "https://app.example.com";
    // RFC 9110 §9.1: "get" is not GET. A proxy or server that treats it as a write must not find it admitted as a read.
    for (const method of ["get", "Get", "head", "options"]) {
      for (const header of ["x-forwarded-method", "x-original-method"]) {
        const answer = await world.call("GET", "/v1/authz", { key: key.secret, headers: { origin, [header]: method } });
        expectError(answer, 401, "SESSION_REQUIRED");
      }
    }
    // Two spellings of one name are two methods, which the two headers then disagree on.
    const differing = await world.call("GET", "/v1/authz", {
      key: key.secret,
      headers: { origin, "x-forwarded-method": "get", "x-original-method": "GET" },
    });
    expectError(differing, 400, "VALIDATION_FAILED");
    // With a session token, the write is admitted as any write is.
    const token = await mintBrowserSession(world, key.secret, origin);
    const withSession = await world.call("GET", "/v1/authz", {
      headers: { origin, "x-forwarded-method": "get", "x-session-token": token },
    });
    expect(withSession.status).toBe(200);
  });

  test("regression: forward-auth refuses the root key, whatever it is asked (ROOT_KEY_NOT_ALLOWED)", async () => {
    for (const path of ["/v1/authz", "/v1/authz?scopes=runs:read", "/v1/authz/anything"]) {
      const answer = await world.call("GET", path, { key: world.rootKey });
      expectError(answer, 403, "ROOT_KEY_NOT_ALLOWED");
      expect(answer.headers.get("x-latchkey-error")).toBe("ROOT_KEY_NOT_ALLOWED");
      expect(answer.headers.get("x-latchkey-key-id")).toBeNull();
    }
    const pinned = await world.call("GET", "/v1/authz", {
      key: world.rootKey,
      headers: { "x-project-id": await createProject(world, await createTenant(world)) },
    });
    expectError(pinned, 403, "ROOT_KEY_NOT_ALLOWED");
  });

  test("scopes in the query are validated", async () => {
    const key = await createKey(world, { scopes: ["runs:read"] });
    const answer = await world.call("GET", "/v1/authz?scopes=runs:read,RUNS:*", { key: key.secret });
    expectError(answer, 400, "VALIDATION_FAILED");
    expect(answer.body.error.details[0].path).toBe("scopes[1]");
  });
});

describe("/v1/authz behind proxies that append the path or set headers", () => {
  let world: World;
  beforeEach(async () => {
    world = await createWorld();
  });
  afterEach(() => world.close());

  test("any path below /v1/authz is answered the same (Envoy appends the original path)", async () => {
    const key = await createKey(world, { scopes: ["runs:read"] });
    const answer = await world.call("POST", "/v1/authz/runs/42?page=2", { key: key.secret });
    expect(answer.status).toBe(200);
    expect(answer.headers.get("x-latchkey-key-id")).toBe(key.id);
  });

  test("required scopes from header and query are united: a client can only make itself stricter", async () => {
    const key = await createKey(world, { scopes: ["runs:read"] });
    const fromHeader = await world.call("GET", "/v1/authz", {
      key: key.secret,
      headers: { "x-latchkey-required-scopes": "runs:write" },
    });
    expectError(fromHeader, 403, "SCOPE_NOT_GRANTED");
    const clientAddsQuery = await world.call("GET", "/v1/authz/runs?scopes=runs:read", {
      key: key.secret,
      headers: { "x-latchkey-required-scopes": "runs:write" },
    });
    expectError(clientAddsQuery, 403, "SCOPE_NOT_GRANTED");
    const malformed = await world.call("GET", "/v1/authz", {
      key: key.secret,
      headers: { "x-latchkey-required-scopes": "*" },
    });
    expectError(malformed, 400, "VALIDATION_FAILED");
    expect(malformed.body.error.details[0].path).toBe("x-latchkey-required-scopes[0]");
  });
});
