import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { decodeJwt } from "jose";
import { createKey, createProject, createTenant, expectError, mintBrowserSession } from "../support/keys.ts";
import { forEachTransport, useWorld } from "../support/transports.ts";
import { createWorld, type World } from "../support/world.ts";

const APP = "https://app.example.com";
const EVIL = "https://evil.example.net";

forEachTransport("the browser channel", (transport) => {
  const world = useWorld({ transport });
  let key: Awaited<ReturnType<typeof createKey>>;
  let projectId: string;
  beforeEach(async () => {
    projectId = await createProject(world, await createTenant(world), { allowed_origins: [APP] });
    key = await createKey(world, { scopes: ["keys:read", "keys:write", "runs:write"], project_id: projectId });
  });

  test("POST /api/v1/sessions: 201 {data:{sessionToken, expiresAt}}, one hour, bound to key and origin", async () => {
    const answer = await world.call("POST", "/api/v1/sessions", { key: key.secret, headers: { origin: APP } });
    expect(answer.status).toBe(201);
    expect(answer.body).toEqual({
      data: { sessionToken: expect.any(String), expiresAt: "2026-01-01T01:00:00.000Z" },
    });
    const claims = decodeJwt(answer.body.data.sessionToken);
    expect(claims).toMatchObject({ sub: key.id, key: key.id, aud: projectId, origin: APP, scp: ["runs:write"] });
    expect(answer.headers.get("access-control-allow-origin")).toBe(APP);
  });

  test("an origin the project does not list is 403 ORIGIN_NOT_ALLOWED naming it; no Origin is 400", async () => {
    const refused = await world.call("POST", "/api/v1/sessions", { key: key.secret, headers: { origin: EVIL } });
    expectError(refused, 403, "ORIGIN_NOT_ALLOWED");
    expect(refused.body.error.details).toEqual([{ path: "origin", message: EVIL }]);
    const missing = await world.call("POST", "/api/v1/sessions", { key: key.secret });
    expectError(missing, 400, "VALIDATION_FAILED");
    expect(missing.body.error.details[0].path).toBe("Origin");
  });

  test("origins match exactly: scheme, host and port", async () => {
    for (const near of ["http://app.example.com", "https://app.example.com:8443", "https://APP.example.com.evil.net"]) {
      const answer = await world.call("POST", "/api/v1/sessions", { key: key.secret, headers: { origin: near } });
      expectError(answer, 403, "ORIGIN_NOT_ALLOWED");
    }
  });

  test("the token works from its origin, for reads and writes", async () => {
    const token = await mintBrowserSession(world, key.secret, APP, {
      scopes: ["keys:read", "keys:write", "runs:write"],
    });
    const read = await world.call("GET", "/v1/keys", { headers: { origin: APP, "x-session-token": token } });
    expect(read.status).toBe(200);
    const write = await world.call("POST", "/v1/keys", {
      headers: { origin: APP, "x-session-token": token },
      body: { name: "from the browser", scopes: ["runs:write"] },
    });
    expect(write.status).toBe(200);
  });

  test("the token is refused from another origin, and without one", async () => {
    const token = await mintBrowserSession(world, key.secret, APP, { scopes: ["keys:read"] });
    expectError(
      await world.call("GET", "/v1/keys", { headers: { origin: EVIL, "x-session-token": token } }),
      403,
      "ORIGIN_NOT_ALLOWED",
    );
    expectError(
      await world.call("GET", "/v1/keys", { headers: { "x-session-token": token } }),
      403,
      "ORIGIN_NOT_ALLOWED",
    );
  });

  test("removing the origin from the project refuses tokens bound to it", async () => {
    const token = await mintBrowserSession(world, key.secret, APP, { scopes: ["keys:read"] });
    await world.call("PATCH", `/v1/projects/${projectId}`, { key: world.rootKey, body: { allowed_origins: [] } });
    expectError(
      await world.call("GET", "/v1/keys", { headers: { origin: APP, "x-session-token": token } }),
      403,
      "ORIGIN_NOT_ALLOWED",
    );
  });

  test("the browser rule: a bare key that writes from a browser is 401 SESSION_REQUIRED", async () => {
    const answer = await world.call("POST", "/v1/keys", {
      key: key.secret,
      headers: { origin: APP },
      body: { name: "k", scopes: ["runs:write"] },
    });
    expectError(answer, 401, "SESSION_REQUIRED");
    expect(answer.headers.get("www-authenticate")).toBe('Bearer realm="latchkey"');
    expectError(
      await world.call("DELETE", `/v1/keys/${key.id}`, { key: key.secret, headers: { origin: APP } }),
      401,
      "SESSION_REQUIRED",
    );
    expectError(
      await world.call("POST", "/v1/sessions", { key: key.secret, headers: { origin: APP }, body: { user_id: "u" } }),
      401,
      "SESSION_REQUIRED",
    );
  });

  test("server-to-server calls (no Origin) need no session; browser reads check the origin", async () => {
    const serverWrite = await world.call("POST", "/v1/keys", {
      key: key.secret,
      body: { name: "k", scopes: ["runs:write"] },
    });
    expect(serverWrite.status).toBe(200);
    expect((await world.call("GET", "/v1/keys", { key: key.secret, headers: { origin: APP } })).status).toBe(200);
    expectError(
      await world.call("GET", "/v1/keys", { key: key.secret, headers: { origin: EVIL } }),
      403,
      "ORIGIN_NOT_ALLOWED",
    );
  });
});

describe("CORS", () => {
  let world: World;
  beforeEach(async () => {
    world = await createWorld({ transport: "http" });
    await createProject(world, await createTenant(world), { allowed_origins: [APP] });
  });
  afterEach(() => world.close());

  test("a preflight from a listed origin is answered with the exact origin, the methods and the headers", async () => {
    const answer = await world.call("OPTIONS", "/api/v1/sessions", {
      headers: {
        origin: APP,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization",
      },
    });
    expect(answer.status).toBe(204);
    expect(answer.headers.get("access-control-allow-origin")).toBe(APP);
    expect(answer.headers.get("vary")).toContain("Origin");
    expect(answer.headers.get("access-control-allow-methods")).toContain("POST");
    const allowed = answer.headers.get("access-control-allow-headers")!.toLowerCase();
    for (const header of ["authorization", "content-type", "x-session-token"]) expect(allowed).toContain(header);
    expect(answer.headers.get("access-control-allow-credentials")).toBeNull();
  });

  test("a preflight from any other origin is refused, with no CORS headers", async () => {
    const answer = await world.call("OPTIONS", "/v1/keys", {
      headers: { origin: EVIL, "access-control-request-method": "POST" },
    });
    expectError(answer, 403, "ORIGIN_NOT_ALLOWED");
    expect(answer.headers.get("access-control-allow-origin")).toBeNull();
  });

  test("answers to a listed origin carry the origin and expose the request id; others carry nothing", async () => {
    const listed = await world.call("GET", "/healthz", { headers: { origin: APP } });
    expect(listed.headers.get("access-control-allow-origin")).toBe(APP);
    expect(listed.headers.get("access-control-expose-headers")).toContain("X-Request-Id");
    const unlisted = await world.call("GET", "/healthz", { headers: { origin: EVIL } });
    expect(unlisted.headers.get("access-control-allow-origin")).toBeNull();
  });
});
