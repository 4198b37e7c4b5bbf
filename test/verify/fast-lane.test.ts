/**
 * The fast lanes of GET /v1/authz and POST /v1/keys/verify (src/api/verify/fast-lane.ts) answer the warm, allowed case
 * exactly as the full pipeline does, and hand everything else to it.
 */
import { describe, expect, test } from "bun:test";
import { createKey, createProject, createTenant, mintSession } from "../support/keys.ts";
import { forEachTransport, useWorld } from "../support/transports.ts";
import type { Answer, World } from "../support/world.ts";

/** Headers that differ between two answers by design: the request id, the date, and what one more request spent. */
const PER_REQUEST = new Set(["x-request-id", "date", "x-ratelimit-remaining", "ratelimit"]);

function comparable(answer: Answer) {
  const headers = Object.fromEntries([...answer.headers].filter(([name]) => !PER_REQUEST.has(name)));
  return { status: answer.status, headers, body: answer.body };
}

async function fastLaneAnswers(world: World): Promise<number> {
  const text = (await world.call("GET", "/metrics")).text;
  return Number(/latchkey_fast_lane_answers_total (\d+)/.exec(text)![1]);
}

/** A key whose bucket holds one request a minute, its change already seen by this node. */
async function keyWithOneRequestAMinute(world: World) {
  const key = await createKey(world, { scopes: ["runs:read"] });
  await world.call("PATCH", `/v1/keys/${key.id}`, {
    key: world.rootKey,
    body: { ratelimit: { limit: 1, window_seconds: 60 } },
  });
  // The change comes back to this node too (read from the log, or its own NOTIFY on PostgreSQL) and drops the key
  // from the cache again: wait for that before warming, or the warm entry may be dropped under the lane's feet.
  await world.deps.changeLog.catchUp();
  return key;
}

forEachTransport("the fast lane of /v1/authz", (transport) => {
  const world = useWorld({ transport });

  test("answers a warm, allowed check exactly as the full pipeline does", async () => {
    const key = await createKey(world, { scopes: ["runs:read", "runs:write"] });
    for (const path of [
      "/v1/authz",
      "/v1/authz?scopes=runs:read",
      "/v1/authz?scopes=runs:read,runs:write",
      "/v1/authz?",
    ]) {
      await world.call("GET", path, { key: key.secret }); // warms the cache
      const before = await fastLaneAnswers(world);
      const fast = await world.call("GET", path, { key: key.secret });
      expect(await fastLaneAnswers(world)).toBe(before + 1);
      world.deps.settings.fastLane = false;
      const full = await world.call("GET", path, { key: key.secret });
      world.deps.settings.fastLane = true;
      expect(comparable(fast)).toEqual(comparable(full));
      expect(Number(fast.headers.get("x-ratelimit-remaining"))).toBe(
        Number(full.headers.get("x-ratelimit-remaining")) + 1,
      );
      expect(fast.headers.get("x-request-id")).toMatch(/^req_/);
    }
  });

  test("answers a warm session token, and warm verifications of keys and tokens, as the pipeline", async () => {
    const key = await createKey(world, { scopes: ["runs:read", "runs:write"] });
    const token = await mintSession(world, key.secret);
    const cases: [string, string, { headers?: Record<string, string>; body?: unknown }][] = [
      ["GET", "/v1/authz?scopes=runs:read", { headers: { "x-session-token": token } }],
      ["POST", "/v1/keys/verify", { body: { key: key.secret } }],
      ["POST", "/v1/keys/verify", { body: { key: key.secret, scopes: ["runs:write"] } }],
      ["POST", "/v1/keys/verify", { body: { token, scopes: ["runs:read"] } }],
    ];
    for (const [method, path, options] of cases) {
      await world.call(method, path, options); // warms the caches
      const before = await fastLaneAnswers(world);
      const fast = await world.call(method, path, options);
      expect({ path, options, fast: await fastLaneAnswers(world) }).toEqual({ path, options, fast: before + 1 });
      world.deps.settings.fastLane = false;
      const full = await world.call(method, path, options);
      world.deps.settings.fastLane = true;
      const remaining = (answer: Answer) => answer.body.ratelimit?.remaining;
      if (path === "/v1/keys/verify") expect(remaining(fast)).toBe(remaining(full) + 1);
      // One more token spent: the remaining count, and when the bucket is full again, move by one token.
      const withoutRemaining = (answer: Answer) => {
        const compared = comparable(answer);
        if (compared.body.ratelimit) compared.body = { ...compared.body, ratelimit: compared.body.ratelimit.limit };
        delete compared.headers["x-ratelimit-reset"];
        return compared;
      };
      expect(withoutRemaining(fast)).toEqual(withoutRemaining(full));
    }
  });

  test("a spent bucket is answered by the lane as by the pipeline: 429 (authz), RATE_LIMITED (verify)", async () => {
    const key = await keyWithOneRequestAMinute(world);
    expect((await world.call("GET", "/v1/authz", { key: key.secret })).status).toBe(200);
    for (const [method, path, options] of [
      ["GET", "/v1/authz", { key: key.secret }],
      ["POST", "/v1/keys/verify", { body: { key: key.secret } }],
    ] as const) {
      const before = await fastLaneAnswers(world);
      const fast = await world.call(method, path, options);
      expect(await fastLaneAnswers(world)).toBe(before + 1);
      world.deps.settings.fastLane = false;
      const full = await world.call(method, path, options);
      world.deps.settings.fastLane = true;
      const sameBody = (answer: Answer) =>
        path === "/v1/authz" ? { ...answer.body, error: { ...answer.body.error, request_id: "" } } : answer.body;
      expect({ ...comparable(fast), body: sameBody(fast) }).toEqual({ ...comparable(full), body: sameBody(full) });
      expect(fast.status === 429 || fast.body.code === "RATE_LIMITED").toBe(true);
    }
  });

  test("answers from a credential's kept headers share nothing: a refusal's fields never reach the next", async () => {
    const key = await keyWithOneRequestAMinute(world);
    const authz = ["GET", "/v1/authz", { key: key.secret }] as const;
    const verify = ["POST", "/v1/keys/verify", { body: { key: key.secret } }] as const;
    expect((await world.call(...authz)).status).toBe(200); // warms the cache and spends the bucket
    const refused = await world.call(...authz);
    expect([refused.status, refused.headers.get("x-latchkey-error")]).toEqual([429, "RATE_LIMITED"]);
    expect(refused.headers.get("retry-after")).not.toBeNull();
    for (const [method, path, options] of [authz, verify]) {
      world.clock.advanceSeconds(60);
      const before = await fastLaneAnswers(world);
      const allowed = await world.call(method, path, options);
      expect(await fastLaneAnswers(world)).toBe(before + 1);
      expect({
        status: allowed.status,
        code: allowed.body.code ?? "none",
        error: allowed.headers.get("x-latchkey-error"),
        retryAfter: allowed.headers.get("retry-after"),
        remaining: allowed.headers.get("x-ratelimit-remaining"),
        requestId: allowed.headers.get("x-request-id") === refused.headers.get("x-request-id"),
      }).toEqual({
        status: 200,
        code: path === "/v1/keys/verify" ? "VALID" : "none",
        error: null,
        retryAfter: null,
        remaining: "0",
        requestId: false,
      });
    }
  });

  test("a verification the lane does not take is answered by the pipeline from the same body", async () => {
    const key = await createKey(world, { scopes: ["runs:read"] });
    await world.call("POST", "/v1/keys/verify", { body: { key: key.secret } });
    const before = await fastLaneAnswers(world);
    const bodies: [unknown, number, string][] = [
      [{ key: key.secret, scopes: ["runs:write"] }, 200, "SCOPE_NOT_GRANTED"],
      [{ key: key.secret, origin: "https://app.example" }, 200, "ORIGIN_NOT_ALLOWED"],
      [{ key: key.secret, scopes: ["Not A Scope"] }, 400, "VALIDATION_FAILED"],
      [{ key: key.secret, extra: 1 }, 400, "VALIDATION_FAILED"],
      [{ key: "sk_live_unknown" }, 200, "API_KEY_INVALID"],
    ];
    for (const [body, status, code] of bodies) {
      const answer = await world.call("POST", "/v1/keys/verify", { body });
      expect({ body, status: answer.status, code: answer.body.code ?? answer.body.error?.code }).toEqual({
        body,
        status,
        code,
      });
    }
    const malformed = await world.call("POST", "/v1/keys/verify", {
      rawBody: '{"key": "x"',
      headers: { "content-type": "application/json" },
    });
    expect(malformed.status).toBe(400);
    expect(await fastLaneAnswers(world)).toBe(before);
  });

  test("keeps a plain X-Request-Id and counts usage, verifications and request metrics like the pipeline", async () => {
    const key = await createKey(world, { scopes: ["runs:read"] });
    await world.call("GET", "/v1/authz", { key: key.secret });
    const answer = await world.call("GET", "/v1/authz", {
      key: key.secret,
      headers: { "x-request-id": "trace-12345678" },
    });
    expect(answer.headers.get("x-request-id")).toBe("trace-12345678");
    const metrics = (await world.call("GET", "/metrics")).text;
    expect(metrics).toContain('latchkey_http_requests_total{route="/v1/authz",method="GET",status="200"} 2');
    expect(metrics).toContain('latchkey_verifications_total{code="VALID"} 2');
    expect(await world.deps.usage.flush(world.storage)).toBeGreaterThan(0);
    const stored = await world.call("GET", `/v1/keys/${key.id}`, { key: world.rootKey });
    expect(stored.body.usage_count).toBe(2);
  });

  test("hands everything else to the full pipeline, which answers it as before", async () => {
    const key = await createKey(world, { scopes: ["runs:read"] });
    const cold = await world.call("GET", "/v1/authz", { key: key.secret });
    expect(cold.status).toBe(200); // not cached yet: the pipeline answered, and cached it
    const before = await fastLaneAnswers(world);
    const token = await mintSession(world, key.secret);
    const handedOver: [string, Record<string, string>, number][] = [
      ["/v1/authz?scopes=runs:write", {}, 403],
      ["/v1/authz?scopes=runs%3Aread", {}, 200],
      ["/v1/authz?scopes=runs:read&scopes=runs:read", {}, 200],
      ["/v1/authz?scopes=NOT A SCOPE", {}, 400],
      ["/v1/authz", { "x-project-id": "prj_unknown" }, 401],
      ["/v1/authz", { origin: "https://not-listed.example" }, 403],
      ["/v1/authz", { "x-original-method": "POST", "x-forwarded-method": "GET" }, 400],
      ["/v1/authz", { "x-latchkey-required-scopes": "runs:write" }, 403],
    ];
    for (const [path, headers, status] of handedOver) {
      expect({ path, status: (await world.call("GET", path, { key: key.secret, headers })).status }).toEqual({
        path,
        status,
      });
    }
    expect((await world.call("GET", "/v1/authz", { headers: { "x-session-token": token } })).status).toBe(200);
    expect((await world.call("GET", "/v1/authz", { key: world.rootKey })).status).toBe(403);
    expect(await fastLaneAnswers(world)).toBe(before);
  });

  test("one bearer grammar: what the pipeline reads, the lane reads alike and answers as the pipeline", async () => {
    const key = await createKey(world, { scopes: ["runs:read"] });
    await world.call("GET", "/v1/authz", { key: key.secret }); // warms the cache
    for (const authorization of [`bearer ${key.secret}`, `BEARER  ${key.secret}`, `Bearer\t${key.secret} `]) {
      const headers = { authorization };
      const before = await fastLaneAnswers(world);
      const fast = await world.call("GET", "/v1/authz", { headers });
      expect({ authorization, lane: await fastLaneAnswers(world) }).toEqual({ authorization, lane: before + 1 });
      world.deps.settings.fastLane = false;
      const full = await world.call("GET", "/v1/authz", { headers });
      world.deps.settings.fastLane = true;
      expect(comparable(fast)).toEqual(comparable(full));
      expect(fast.status).toBe(200);
    }
  });

  test("one reading of the query and the body: what the lane takes, the pipeline's schema reads alike", async () => {
    const key = await createKey(world, { scopes: ["runs:read", "runs:write"] });
    await world.call("GET", "/v1/authz", { key: key.secret }); // warms the cache
    const tooMany = Array.from({ length: 65 }, (_, index) => `runs:r${index}`);
    const cases: [string, string, { key?: string; body?: unknown }][] = [
      ["GET", "/v1/authz?scopes=runs:read,,runs:write", { key: key.secret }],
      ["GET", "/v1/authz?scopes=runs:read,runs:read", { key: key.secret }],
      ["GET", "/v1/authz?scopes=", { key: key.secret }],
      ["GET", "/v1/authz?scopes=runs:*", { key: key.secret }],
      ["GET", "/v1/authz?scopes=Runs:read", { key: key.secret }],
      ["GET", `/v1/authz?scopes=${tooMany.join(",")}`, { key: key.secret }],
      ["POST", "/v1/keys/verify", { body: { key: key.secret, scopes: [] } }],
      ["POST", "/v1/keys/verify", { body: { key: key.secret, scopes: ["runs:read", "runs:read"] } }],
      ["POST", "/v1/keys/verify", { body: { key: key.secret, scopes: ["runs:read", ""] } }],
      ["POST", "/v1/keys/verify", { body: { key: key.secret, scopes: "runs:read" } }],
      ["POST", "/v1/keys/verify", { body: { key: key.secret, scopes: tooMany } }],
      ["POST", "/v1/keys/verify", { body: { key: key.secret, origin: "https://app.example.com" } }],
      ["POST", "/v1/keys/verify", { body: { key: key.secret, token: "x" } }],
      ["POST", "/v1/keys/verify", { body: { key: key.secret, extra: true } }],
      ["POST", "/v1/keys/verify", { body: { key: "" } }],
      ["POST", "/v1/keys/verify", { body: [key.secret] }],
    ];
    const outcome = (answer: Answer) => ({
      status: answer.status,
      code: answer.body.code ?? answer.body.error?.code,
      details: answer.body.details ?? answer.body.error?.details,
    });
    const byLane: number[] = [];
    for (const [index, [method, path, options]] of cases.entries()) {
      const before = await fastLaneAnswers(world);
      const fast = outcome(await world.call(method, path, options));
      if ((await fastLaneAnswers(world)) > before) byLane.push(index);
      world.deps.settings.fastLane = false;
      const full = outcome(await world.call(method, path, options));
      world.deps.settings.fastLane = true;
      expect({ path, options, fast }).toEqual({ path, options, fast: full });
    }
    // The lane took the well-formed ones and left every malformed one, and the origin, to the pipeline.
    expect(byLane).toEqual([0, 1, 2, 6, 7]);
    const lastQuery = cases.findLastIndex(([method]) => method === "GET");
    expect(outcome(await world.call(...cases[3]!)).status).toBe(400);
    expect(outcome(await world.call(...cases[lastQuery]!)).status).toBe(400);
    expect(outcome(await world.call(...cases[0]!)).status).toBe(200);
  });
  test("regression: both lanes agree on credential-first order, method case and respelled tokens", async () => {
    const origin = "https://app.example.com";
    const projectId = await createProject(world, await createTenant(world), { allowed_origins: [origin] });
    const key = await createKey(world, { scopes: ["runs:read"], project_id: projectId });
    const token = await mintSession(world, key.secret, { scopes: ["runs:read"] });
    // A canonical last character carries four zero spare bits (A, Q, g or w): the next letter decodes the same.
    const respelled = `${token.slice(0, -1)}${String.fromCharCode(token.charCodeAt(token.length - 1) + 1)}`;
    const verify = (contentType: string, body: unknown) =>
      ["POST", "/v1/keys/verify", { rawBody: JSON.stringify(body), headers: { "content-type": contentType } }] as const;
    const cases = [
      ["GET", "/v1/authz", { key: key.secret, headers: { origin, "x-forwarded-method": "POST" } }],
      ["GET", "/v1/authz", { key: key.secret, headers: { origin, "x-forwarded-method": "get" } }],
      ["GET", "/v1/authz", { headers: { "x-session-token": respelled } }],
      verify("application/json; charset=utf-16", { key: key.secret }),
      verify("text/plain", { key: key.secret }),
      verify("application/json; charset=UTF-8", { key: key.secret }),
      verify('application/json; charset="utf-8"', { key: key.secret }),
      verify("application/json", { token: respelled }),
    ] as const;
    const outcome = (answer: Answer) => ({
      status: answer.status,
      code: answer.body.code ?? answer.body.error?.code,
      error: answer.headers.get("x-latchkey-error"),
    });
    for (const [method, path, options] of cases) {
      await world.call(method, path, options); // warms what can be warmed
      const fast = outcome(await world.call(method, path, options));
      world.deps.settings.fastLane = false;
      const full = outcome(await world.call(method, path, options));
      world.deps.settings.fastLane = true;
      expect({ path, options, fast }).toEqual({ path, options, fast: full });
    }
    const answered = async (answer: Promise<Answer>) => outcome(await answer);
    expect(await answered(world.call(...cases[0]))).toEqual({
      status: 401,
      code: "SESSION_REQUIRED",
      error: "SESSION_REQUIRED",
    });
    expect(await answered(world.call(...cases[1]))).toEqual({
      status: 401,
      code: "SESSION_REQUIRED",
      error: "SESSION_REQUIRED",
    });
    expect(await answered(world.call(...cases[2]))).toEqual({
      status: 401,
      code: "SESSION_INVALID",
      error: "SESSION_INVALID",
    });
    expect((await answered(world.call(...cases[3]))).status).toBe(415);
    expect((await answered(world.call(...cases[5]))).code).toBe("VALID");
    expect((await answered(world.call(...cases[7]))).code).toBe("SESSION_INVALID");
  });

  test("refusals after the warm check are the pipeline's: revoked at once, rate limited with Retry-After", async () => {
    const key = await createKey(world, { scopes: ["runs:read"] });
    await world.call("PATCH", `/v1/keys/${key.id}`, {
      key: world.rootKey,
      body: { ratelimit: { limit: 2, window_seconds: 60 } },
    });
    await world.deps.changeLog.catchUp();
    expect((await world.call("GET", "/v1/authz", { key: key.secret })).status).toBe(200);
    expect((await world.call("GET", "/v1/authz", { key: key.secret })).status).toBe(200);
    const limited = await world.call("GET", "/v1/authz", { key: key.secret });
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe("RATE_LIMITED");
    expect(limited.headers.get("retry-after")).toBe("30");
    world.clock.advanceSeconds(60);
    expect((await world.call("GET", "/v1/authz", { key: key.secret })).status).toBe(200);
    await world.call("DELETE", `/v1/keys/${key.id}`, { key: world.rootKey });
    const revoked = await world.call("GET", "/v1/authz", { key: key.secret });
    expect(revoked.status).toBe(401);
    expect(revoked.body.error.code).toBe("API_KEY_REVOKED");
  });
});

describe("the fast lane and failed authentications", () => {
  const world = useWorld({ transport: "http", settings: { authFailurePolicy: { limit: 3, windowSeconds: 60 } } });

  test("a client whose failures emptied its bucket is refused 429 even with a good, cached key", async () => {
    const key = await createKey(world, { scopes: ["runs:read"] });
    expect((await world.call("GET", "/v1/authz", { key: key.secret })).status).toBe(200);
    for (let attempt = 0; attempt < 3; attempt++) {
      expect((await world.call("GET", "/v1/authz", { key: "sk_live_wrong" })).status).toBe(401);
    }
    const refused = await world.call("GET", "/v1/authz", { key: key.secret });
    expect(refused.status).toBe(429);
    world.clock.advanceSeconds(61);
    expect((await world.call("GET", "/v1/authz", { key: key.secret })).status).toBe(200);
  });
});
