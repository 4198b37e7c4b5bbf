/** Bad input to the CLI's routes: refused in the CLI envelope, and nothing is created. */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { createApprover, createProject, createTenant, startCliLogin } from "../support/keys.ts";
import { createWorld, type World } from "../support/world.ts";

describe("starting a CLI login: bad input", () => {
  let world: World;
  beforeEach(async () => {
    world = await createWorld();
  });
  afterEach(() => world.close());

  const sessionCount = async () => (await world.query("SELECT CAST(count(*) AS INTEGER) AS n FROM cli_sessions"))[0]!.n;

  async function expectRefused(
    body: unknown,
    headers: Record<string, string> = {},
    status = 400,
    code = "VALIDATION_FAILED",
  ) {
    const before = await sessionCount();
    const answer = await world.call("POST", "/v1/api/auth/sessions", { body, headers });
    expect({ status: answer.status, body: answer.body }).toEqual({
      status,
      body: { success: false, msg: expect.any(String), code },
    });
    expect(await sessionCount()).toBe(before);
    return answer;
  }

  test("field limits", async () => {
    await expectRefused({ deviceName: "d".repeat(101) });
    await expectRefused({ deviceName: "" });
    await expectRefused({ deviceName: 7 });
    await expectRefused({ callbackUrl: `https://cli.example.com/${"x".repeat(2048)}` });
    await expectRefused({ codeChallenge: "too-short" });
    await expectRefused({ codeChallenge: "a".repeat(43), codeChallengeMethod: "plain" });
    await expectRefused({ scopes: ["*"] });
    await expectRefused({ extra: true });
    const answer = await expectRefused({ deviceName: "d".repeat(101) });
    expect(answer.body.msg).toContain("deviceName");
  });

  const hostileCallbacks = [
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "file:///etc/passwd",
    "//evil.example.net/cb",
    "https:evil.example.net",
    "http://evil.example.net/cb",
    "http://127.0.0.1.evil.example.net/cb",
    "http://localhost.evil.example.net/cb",
    "https://user:pass@cli.example.com/cb",
    "https://cli.example.com@evil.example.net/cb",
    "https://cli.example.com\\@evil.example.net/cb",
    "https://cli.example.com/cb#fragment",
    "https://cli.example.com/cb\r\nSet-Cookie: x=1",
    " https://cli.example.com/cb",
    "myapp://callback",
    "ftp://cli.example.com/cb",
    "not a url",
  ];
  for (const callbackUrl of hostileCallbacks) {
    test(`refuses the callback ${JSON.stringify(callbackUrl)}`, async () => {
      const answer = await expectRefused({ callbackUrl });
      expect(answer.body.msg).toContain("callbackUrl");
    });
  }

  test("accepts https anywhere and http to loopback, unless the project turns loopback http off", async () => {
    for (const callbackUrl of [
      "https://cli.example.com/done",
      "http://127.0.0.1:53682/callback",
      "http://localhost:8080/",
      "http://[::1]:9000/cb",
    ]) {
      await startCliLogin(world, { callbackUrl });
    }
    await world.call("PATCH", `/v1/projects/${world.defaultProjectId}`, {
      key: world.rootKey,
      body: { cli_loopback_http: false },
    });
    await expectRefused({ callbackUrl: "http://127.0.0.1:53682/callback" });
  });

  test("callback hosts, when listed, are the only https hosts allowed", async () => {
    await world.call("PATCH", `/v1/projects/${world.defaultProjectId}`, {
      key: world.rootKey,
      body: { callback_hosts: ["cli.example.com"] },
    });
    await startCliLogin(world, { callbackUrl: "https://cli.example.com/done" });
    await expectRefused({ callbackUrl: "https://evil.example.net/done" });
    await expectRefused({ callbackUrl: "https://sub.cli.example.com/done" });
    await startCliLogin(world, { callbackUrl: "http://127.0.0.1:4000/cb" });
  });

  test("regression: a callback host allows its default port only, unless listed as host:port", async () => {
    const listed = await world.call("PATCH", `/v1/projects/${world.defaultProjectId}`, {
      key: world.rootKey,
      body: { callback_hosts: ["cli.example.com", "tools.example.com:8443"] },
    });
    expect(listed.body.callback_hosts).toEqual(["cli.example.com", "tools.example.com:8443"]);
    await startCliLogin(world, { callbackUrl: "https://cli.example.com/done" });
    await expectRefused({ callbackUrl: "https://cli.example.com:8443/done" });
    await expectRefused({ callbackUrl: "https://cli.example.com:22/done" });
    await startCliLogin(world, { callbackUrl: "https://tools.example.com:8443/done" });
    await expectRefused({ callbackUrl: "https://tools.example.com/done" });
    await expectRefused({ callbackUrl: "https://tools.example.com:8444/done" });
  });

  test("an unknown or malformed project is 404; a tenant without cli_login is 403", async () => {
    await expectRefused({}, { "x-project-id": "prj_0000000000000000000000" }, 404, "NOT_FOUND");
    const tenantId = await createTenant(world, { modules: ["keys"] });
    const projectId = await createProject(world, tenantId);
    await expectRefused({}, { "x-project-id": projectId }, 403, "MODULE_NOT_ENABLED");
  });

  test("malformed JSON and other media types answer in the CLI envelope too", async () => {
    const malformed = await world.call("POST", "/v1/api/auth/sessions", {
      rawBody: "{",
      headers: { "content-type": "application/json" },
    });
    expect(malformed.body).toMatchObject({ success: false, code: "VALIDATION_FAILED" });
    const text = await world.call("POST", "/v1/api/auth/sessions", {
      rawBody: "x",
      headers: { "content-type": "text/plain" },
    });
    expect({ status: text.status, code: text.body.code }).toEqual({ status: 415, code: "UNSUPPORTED_MEDIA_TYPE" });
  });
});

describe("polling", () => {
  let world: World;
  beforeEach(async () => {
    world = await createWorld();
  });
  afterEach(() => world.close());

  test("faster than the interval is 429 with Retry-After; at the interval it is answered", async () => {
    const { sessionId } = await startCliLogin(world);
    expect((await world.call("GET", `/v1/api/auth/sessions/${sessionId}`)).status).toBe(200);
    world.clock.advanceSeconds(2);
    const tooFast = await world.call("GET", `/v1/api/auth/sessions/${sessionId}`);
    expect(tooFast.status).toBe(429);
    expect(tooFast.body).toEqual({ success: false, msg: expect.any(String), code: "RATE_LIMITED" });
    expect(tooFast.headers.get("retry-after")).toBe("3");
    expect(tooFast.headers.get("cache-control")).toBe("no-store");
    world.clock.advanceSeconds(3);
    expect((await world.call("GET", `/v1/api/auth/sessions/${sessionId}`)).status).toBe(200);
  });

  test("unknown, malformed and denied sessions are all 404", async () => {
    for (const sessionId of ["cls_000000000000000000000000000000000", "nope", `cls_${"x".repeat(40)}`]) {
      const answer = await world.call("GET", `/v1/api/auth/sessions/${sessionId}`);
      expect({ status: answer.status, code: answer.body.code }).toEqual({ status: 404, code: "NOT_FOUND" });
      expect((await world.call("DELETE", `/v1/api/auth/sessions/${sessionId}`)).status).toBe(404);
    }
  });
});

describe("starting is limited per client address", () => {
  test("the 21st start in a minute from one address is 429", async () => {
    const world = await createWorld({ transport: "http" });
    try {
      for (let index = 0; index < 20; index++) await startCliLogin(world);
      const limited = await world.call("POST", "/v1/api/auth/sessions", { body: {} });
      expect(limited.status).toBe(429);
      expect(limited.body.code).toBe("RATE_LIMITED");
      expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      world.clock.advanceSeconds(3);
      await startCliLogin(world);
    } finally {
      await world.close();
    }
  });
});

describe("PKCE", () => {
  let world: World;
  beforeEach(async () => {
    world = await createWorld();
  });
  afterEach(() => world.close());

  const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
  const challenge = new Bun.CryptoHasher("sha256").update(verifier).digest("base64url");

  test("a session started with a challenge is polled and closed only with the matching verifier", async () => {
    const { sessionId, userCode } = await startCliLogin(world, {
      codeChallenge: challenge,
      codeChallengeMethod: "S256",
      scopes: ["runs:read"],
    });
    const missing = await world.call("GET", `/v1/api/auth/sessions/${sessionId}`);
    expect({ status: missing.status, code: missing.body.code }).toEqual({ status: 400, code: "VALIDATION_FAILED" });
    const wrong = await world.call("GET", `/v1/api/auth/sessions/${sessionId}`, {
      headers: { "x-code-verifier": "x".repeat(43) },
    });
    expect(wrong.status).toBe(400);
    const approver = await createApprover(world);
    await world.call("POST", `/v1/api/auth/codes/${userCode}/approve`, {
      key: approver.secret,
      body: { user_id: "u" },
    });
    const stolenIdOnly = await world.call("GET", `/v1/api/auth/sessions/${sessionId}`);
    expect(stolenIdOnly.status).toBe(400);
    expect(stolenIdOnly.text).not.toContain("sk_live_");
    const right = await world.call("GET", `/v1/api/auth/sessions/${sessionId}`, {
      headers: { "x-code-verifier": verifier },
    });
    expect(right.body.status).toBe("completed");
    expect((await world.call("DELETE", `/v1/api/auth/sessions/${sessionId}`)).status).toBe(400);
    const closed = await world.call("DELETE", `/v1/api/auth/sessions/${sessionId}`, {
      headers: { "x-code-verifier": verifier },
    });
    expect(closed.body).toEqual({ success: true });
  });
});
