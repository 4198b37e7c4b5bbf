import { afterEach, expect, test } from "bun:test";
import { z } from "zod";
import { route } from "../../src/http/route.ts";
import { createKey, createProject, createTenant, expectError } from "../support/keys.ts";
import { forEachTransport } from "../support/transports.ts";
import { type CallOptions, createWorld, type World } from "../support/world.ts";

const brokenRoutes = [
  route({
    method: "GET",
    path: "/test/wrong-shape",
    operationId: "testWrongShape",
    summary: "Answers a body its own schema refuses.",
    tags: ["operations"],
    credential: "none",
    responses: { 200: z.object({ id: z.string() }) },
    handle: () => ({ id: 42 }) as unknown as { id: string },
  }),
  route({
    method: "GET",
    path: "/test/bad-header",
    operationId: "testBadHeader",
    summary: "Sets a header value the runtime refuses, so the failure happens while the response is built.",
    tags: ["operations"],
    credential: "none",
    responses: { 200: z.object({ id: z.string() }) },
    handle: ({ responseHeaders }) => {
      responseHeaders["x-test"] = "日本";
      return { id: "x" };
    },
  }),
  route({
    method: "GET",
    path: "/test/throws",
    operationId: "testThrows",
    summary: "Fails the way infrastructure fails.",
    tags: ["operations"],
    credential: "none",
    responses: { 200: z.object({ id: z.string() }) },
    handle: () => {
      throw new Error("SQLITE_IOERR at /var/lib/latchkey/secret-path.db");
    },
  }),
];

// Tests here build their own world with the options they need (extra routes, a small body limit).
forEachTransport("the HTTP pipeline", (transport) => {
  let world: World;
  afterEach(() => world.close());

  test("every response carries X-Request-Id, and error bodies repeat it", async () => {
    world = await createWorld({ transport });
    const ok = await world.call("GET", "/healthz");
    expect(ok.headers.get("x-request-id")).toMatch(/^req_[0-9A-Za-z]{22}$/);
    const refused = await world.call("GET", "/v1/keys");
    expect(refused.body.error.request_id).toBe(refused.headers.get("x-request-id")!);
    const unknown = await world.call("GET", "/nowhere");
    expect(unknown.headers.get("x-request-id")).toMatch(/^req_/);
  });

  test("a plain caller-supplied X-Request-Id is kept; anything else is replaced", async () => {
    world = await createWorld({ transport });
    const kept = await world.call("GET", "/healthz", { headers: { "x-request-id": "trace-1234abcd" } });
    expect(kept.headers.get("x-request-id")).toBe("trace-1234abcd");
    const replaced = await world.call("GET", "/healthz", { headers: { "x-request-id": "a b<script>" } });
    expect(replaced.headers.get("x-request-id")).toMatch(/^req_/);
  });

  test("unknown routes are 404 in the envelope", async () => {
    world = await createWorld({ transport });
    expectError(await world.call("GET", "/v2/anything"), 404, "NOT_FOUND");
    expectError(
      await world.call("GET", "/v1/keys/key_0000000000000000000000/nowhere", { key: world.rootKey }),
      404,
      "NOT_FOUND",
    );
  });

  test("regression: another method on a known path is 405 with Allow, not a 404 or an id complaint", async () => {
    world = await createWorld({ transport });
    const put = await world.call("PUT", "/v1/keys", { key: world.rootKey });
    expectError(put, 405, "METHOD_NOT_ALLOWED");
    expect(put.headers.get("allow")).toBe("POST, GET, HEAD");
    const getVerify = await world.call("GET", "/v1/keys/verify", { key: world.rootKey });
    expectError(getVerify, 405, "METHOD_NOT_ALLOWED");
    expect(getVerify.headers.get("allow")).toBe("POST");
    expect(getVerify.body.error.details).toEqual([{ path: "method", message: "must be one of POST" }]);
    const propfind = await world.call("PROPFIND", "/healthz");
    expectError(propfind, 405, "METHOD_NOT_ALLOWED");
    expect((await world.call("HEAD", "/healthz")).status).toBe(200);
  });

  test("malformed JSON is 400 and changes nothing", async () => {
    world = await createWorld({ transport });
    const answer = await world.call("POST", "/v1/keys", {
      key: world.rootKey,
      rawBody: '{"name": "k", "scopes": ["a:b"',
      headers: { "content-type": "application/json" },
    });
    expectError(answer, 400, "VALIDATION_FAILED");
    expect(answer.body.error.details).toEqual([{ path: "body", message: "must be valid JSON" }]);
    const listed = await world.call("GET", "/v1/keys", { key: world.rootKey });
    expect(listed.body.data.length).toBe(1);
  });

  test("regression: a body nested thousands deep is refused before validation; bracketed text is fine", async () => {
    world = await createWorld({ transport });
    const deep = `${"[".repeat(20_000)}${"]".repeat(20_000)}`;
    const refused = await world.call("POST", "/v1/keys", {
      key: world.rootKey,
      rawBody: `{"name": "k", "scopes": ["a:b"], "extra": ${deep}}`,
      headers: { "content-type": "application/json" },
    });
    expectError(refused, 400, "VALIDATION_FAILED");
    expect(refused.body.error.details).toEqual([{ path: "body", message: "must nest at most 32 levels" }]);
    // Thirty-two levels are fine (the unknown field is what is refused), and brackets inside a string are text.
    const shallow = `${"[".repeat(31)}${"]".repeat(31)}`;
    for (const extra of [shallow, JSON.stringify("[".repeat(500))]) {
      const answer = await world.call("POST", "/v1/keys", {
        key: world.rootKey,
        rawBody: `{"name": "k", "scopes": ["a:b"], "extra": ${extra}}`,
        headers: { "content-type": "application/json" },
      });
      expectError(answer, 400, "VALIDATION_FAILED");
      expect(answer.body.error.details[0].path).toBe("extra");
    }
  });

  test("a body that is not JSON is 415", async () => {
    world = await createWorld({ transport });
    for (const contentType of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]) {
      const answer = await world.call("POST", "/v1/keys", {
        key: world.rootKey,
        rawBody: "name=k&scopes=a:b",
        headers: { "content-type": contentType },
      });
      expectError(answer, 415, "UNSUPPORTED_MEDIA_TYPE");
    }
    const untyped = await world.call("POST", "/v1/keys", { key: world.rootKey, rawBody: '{"name":"k"}' });
    expectError(untyped, 415, "UNSUPPORTED_MEDIA_TYPE");
  });

  test("JSON with a charset, or a +json type, is accepted", async () => {
    world = await createWorld({ transport });
    for (const contentType of ["application/json; charset=utf-8", "application/merge-patch+json"]) {
      const answer = await world.call("POST", "/v1/keys", {
        key: world.rootKey,
        rawBody: JSON.stringify({ name: "k", scopes: ["a:b"] }),
        headers: { "content-type": contentType },
      });
      expect(answer.status).toBe(200);
    }
  });

  test("a body over the limit is 413, announced or streamed", async () => {
    world = await createWorld({ transport, settings: { bodyLimitBytes: 2048 } });
    const big = JSON.stringify({ name: "k".repeat(3000), scopes: ["a:b"] });
    const announced = await world.call("POST", "/v1/keys", {
      key: world.rootKey,
      rawBody: big,
      headers: { "content-type": "application/json" },
    });
    expectError(announced, 413, "PAYLOAD_TOO_LARGE");
    const bytes = new TextEncoder().encode(big);
    const streamed = await world.call("POST", "/v1/keys", {
      key: world.rootKey,
      rawBody: new ReadableStream({
        start(controller) {
          for (let offset = 0; offset < bytes.length; offset += 500)
            controller.enqueue(bytes.slice(offset, offset + 500));
          controller.close();
        },
      }),
      headers: { "content-type": "application/json" },
    });
    expectError(streamed, 413, "PAYLOAD_TOO_LARGE");
    const atLimit = await world.call("POST", "/v1/keys", {
      key: world.rootKey,
      body: { name: "k".repeat(150), scopes: ["a:b"] },
    });
    expect(atLimit.status).toBe(200);
  });

  test("invalid UTF-8 in a JSON body is 400", async () => {
    world = await createWorld({ transport });
    const answer = await world.call("POST", "/v1/keys", {
      key: world.rootKey,
      rawBody: new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
      headers: { "content-type": "application/json" },
    });
    expectError(answer, 400, "VALIDATION_FAILED");
  });

  test("credentials are checked before the body's shape: a stranger learns nothing of the schema", async () => {
    world = await createWorld({ transport });
    const answer = await world.call("POST", "/v1/keys", { body: { nonsense: true } });
    expectError(answer, 401, "API_KEY_REQUIRED");
  });

  /** Bodies each refused on their own (media type, size, syntax, charset): none may decide before the credential. */
  function badBodies(limitBytes: number): [string, CallOptions][] {
    const json = { "content-type": "application/json" };
    const oversized = JSON.stringify({ name: "k".repeat(limitBytes), scopes: ["a:b"] });
    return [
      ["text/plain", { rawBody: "name=k", headers: { "content-type": "text/plain" } }],
      ["a form", { rawBody: "name=k", headers: { "content-type": "application/x-www-form-urlencoded" } }],
      ["UTF-16 JSON", { rawBody: '{"name":"k"}', headers: { "content-type": "application/json; charset=utf-16" } }],
      ["malformed JSON", { rawBody: '{"name": "k"', headers: json }],
      ["nested too deep", { rawBody: `${"[".repeat(100)}${"]".repeat(100)}`, headers: json }],
      ["invalid UTF-8", { rawBody: new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x7d]), headers: json }],
      ["over the size limit", { rawBody: oversized, headers: { ...json, "content-length": String(oversized.length) } }],
      ["the wrong shape", { body: { nonsense: true } }],
    ];
  }

  test("regression: credentials and the browser rule are decided before the body's type, size and syntax", async () => {
    world = await createWorld({ transport, settings: { bodyLimitBytes: 256 } });
    const origin = "https://app.example.com";
    const projectId = await createProject(world, await createTenant(world), { allowed_origins: [origin] });
    const writer = await createKey(world, { scopes: ["keys:write"], project_id: projectId });
    const reader = await createKey(world, { scopes: ["keys:read"], project_id: projectId });
    const revoked = await createKey(world, { scopes: ["keys:write"], project_id: projectId });
    await world.call("DELETE", `/v1/keys/${revoked.id}`, { key: world.rootKey });
    const expected: [string, Record<string, string>, number, string][] = [
      ["no credential", {}, 401, "API_KEY_REQUIRED"],
      ["a malformed key", { authorization: "Bearer sk_live_nonsense" }, 401, "API_KEY_INVALID"],
      ["a revoked key", { authorization: `Bearer ${revoked.secret}` }, 401, "API_KEY_REVOKED"],
      ["a browser's bare key", { authorization: `Bearer ${writer.secret}`, origin }, 401, "SESSION_REQUIRED"],
      ["a key without the scope", { authorization: `Bearer ${reader.secret}` }, 403, "SCOPE_NOT_GRANTED"],
    ];
    for (const [credential, credentialHeaders, status, code] of expected) {
      for (const [body, options] of badBodies(256)) {
        const answer = await world.call("POST", "/v1/keys", {
          ...options,
          headers: { ...options.headers, ...credentialHeaders },
        });
        expect({ credential, body, status: answer.status, code: answer.body.error?.code }).toEqual({
          credential,
          body,
          status,
          code,
        });
      }
    }
    // Forward-auth reads no body at all: what a proxy passes along never changes the decision.
    for (const [body, options] of badBodies(256)) {
      const write = await world.call("POST", "/v1/authz", {
        ...options,
        key: writer.secret,
        headers: { ...options.headers, origin },
      });
      expect({ body, status: write.status, code: write.body.error?.code }).toEqual({
        body,
        status: 401,
        code: "SESSION_REQUIRED",
      });
    }
    expect(
      (await world.call("GET", "/v1/keys", { key: world.rootKey, headers: { "x-project-id": projectId } })).body.data
        .length,
    ).toBe(3);
    // With a good credential the body is judged as before.
    const judged = await world.call("POST", "/v1/keys", {
      key: writer.secret,
      rawBody: "name=k",
      headers: { "content-type": "text/plain" },
    });
    expectError(judged, 415, "UNSUPPORTED_MEDIA_TYPE");
  });

  test("regression: a JSON body declared in another charset is 415, not read as if it were UTF-8", async () => {
    world = await createWorld({ transport });
    const text = JSON.stringify({ name: "k", scopes: ["a:b"] });
    const utf16 = new Uint8Array(Buffer.from(`\ufeff${text}`, "utf16le"));
    for (const [contentType, rawBody] of [
      ["application/json; charset=utf-16", utf16],
      ["application/json; charset=UTF-16LE", utf16],
      ["application/json; charset=utf-16", text],
      ["application/json; charset=iso-8859-1", text],
      ['application/json; charset="us-ascii"', text],
      ["application/merge-patch+json; charset=utf-32", text],
    ] as const) {
      const answer = await world.call("POST", "/v1/keys", {
        key: world.rootKey,
        rawBody,
        headers: { "content-type": contentType },
      });
      expectError(answer, 415, "UNSUPPORTED_MEDIA_TYPE");
      expect(answer.body.error.details).toEqual([{ path: "content-type", message: "must name no charset, or utf-8" }]);
    }
    for (const contentType of [
      "application/json; charset=UTF-8",
      'application/json; charset="utf-8"',
      "application/json;charset=utf8",
      "application/json ; charset=utf-8",
    ]) {
      const answer = await world.call("POST", "/v1/keys", {
        key: world.rootKey,
        rawBody: text,
        headers: { "content-type": contentType },
      });
      expect({ contentType, status: answer.status }).toEqual({ contentType, status: 200 });
    }
    const listed = await world.call("GET", "/v1/keys", { key: world.rootKey });
    expect(listed.body.data.length).toBe(5);
  });

  test("an infrastructure failure is a bare 500 with a request id; the cause is only logged", async () => {
    world = await createWorld({ transport, extraRoutes: brokenRoutes });
    const answer = await world.call("GET", "/test/throws");
    expectError(answer, 500, "INTERNAL");
    expect(answer.body.error.message).toBe("Internal error.");
    expect(answer.text).not.toContain("SQLITE");
    expect(answer.text).not.toContain("secret-path");
    expect(answer.text).not.toContain("at ");
    const logged = world.logLines.find((line) => line.includes(answer.body.error.request_id));
    expect(logged).toContain("SQLITE_IOERR");
  });

  test("regression: a failure while building the response is the 500 envelope, not Bun's bare text", async () => {
    world = await createWorld({ transport, extraRoutes: brokenRoutes });
    const answer = await world.call("GET", "/test/bad-header");
    expectError(answer, 500, "INTERNAL");
    expect(answer.headers.get("content-type")).toContain("application/json");
    expect(answer.text).not.toContain("Something went wrong");
    const logged = world.logLines.find((line) => line.includes(answer.body.error.request_id));
    expect(logged).toContain("TypeError");
  });

  test("a response that breaks its own schema is a 500, never sent as is", async () => {
    world = await createWorld({ transport, extraRoutes: brokenRoutes });
    const answer = await world.call("GET", "/test/wrong-shape");
    expectError(answer, 500, "INTERNAL");
    expect(answer.text).not.toContain("42");
  });

  test("a database that cannot answer is a 503 with Retry-After, not a 500, a hang or a leak", async () => {
    world = await createWorld({ transport });
    const key = await createKey(world, { scopes: ["keys:read"] });
    await world.closeStorage();
    const answer = await world.call("GET", "/v1/keys", { key: key.secret });
    expectError(answer, 503, "UNAVAILABLE");
    expect(answer.headers.get("retry-after")).toBe("1");
    expect(world.logLines.some((line) => line.includes("database unavailable"))).toBe(true);
  });

  test("API answers are not cacheable by shared caches", async () => {
    world = await createWorld({ transport });
    const answer = await world.call("POST", "/v1/keys", { key: world.rootKey, body: { name: "k", scopes: ["a:b"] } });
    expect(answer.headers.get("cache-control")).toBe("no-store");
    expect(answer.headers.get("x-content-type-options")).toBe("nosniff");
  });
});
