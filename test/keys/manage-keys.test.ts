import { expect, test } from "bun:test";
import { createKey, createTenantWithKey, expectError } from "../support/keys.ts";
import { forEachTransport, useWorld } from "../support/transports.ts";

forEachTransport("key management", (transport) => {
  const world = useWorld({ transport });

  test("GET /v1/keys pages newest first with next_cursor, and never shows a secret", async () => {
    const created = [];
    for (let index = 0; index < 5; index++) {
      created.push(await createKey(world, { scopes: ["runs:read"], name: `key ${index}` }));
      world.clock.advanceMilliseconds(1);
    }
    const reader = await createKey(world, { scopes: ["keys:read"], name: "reader" });
    const first = await world.call("GET", "/v1/keys?limit=2", { key: reader.secret });
    expect(first.status).toBe(200);
    expect(first.body.object).toBe("list");
    expect(first.body.data.map((key: { name: string }) => key.name)).toEqual(["reader", "key 4"]);
    const second = await world.call("GET", `/v1/keys?limit=2&cursor=${first.body.next_cursor}`, {
      key: reader.secret,
    });
    expect(second.body.data.map((key: { name: string }) => key.name)).toEqual(["key 3", "key 2"]);
    const third = await world.call("GET", `/v1/keys?limit=2&cursor=${second.body.next_cursor}`, {
      key: reader.secret,
    });
    expect(third.body.data.map((key: { name: string }) => key.name)).toEqual(["key 1", "key 0"]);
    expect(third.body.next_cursor).toBeNull();
    for (const page of [first, second, third]) {
      for (const key of created) expect(page.text).not.toContain(key.secret);
    }
  });

  test("a project key never sees the root key or other projects' keys", async () => {
    const other = await createTenantWithKey(world, ["keys:read", "keys:write"]);
    const reader = await createKey(world, { scopes: ["keys:read"] });
    const listed = await world.call("GET", "/v1/keys", { key: reader.secret });
    expect(listed.body.data.map((key: { id: string }) => key.id)).toEqual([reader.id]);
    const rootKeyId = (await world.call("GET", "/v1/keys", { key: world.rootKey })).body.data.find(
      (key: { root: boolean }) => key.root,
    ).id;
    expectError(await world.call("GET", `/v1/keys/${rootKeyId}`, { key: reader.secret }), 404, "NOT_FOUND");
    expectError(await world.call("GET", `/v1/keys/${other.key.id}`, { key: reader.secret }), 404, "NOT_FOUND");
    expectError(
      await world.call("GET", `/v1/keys?project_id=${other.projectId}`, { key: reader.secret }),
      404,
      "NOT_FOUND",
    );
  });

  test("another project's key cannot read, revoke or rotate this project's keys (404, not 403)", async () => {
    const target = await createKey(world, { scopes: ["runs:read"] });
    const other = await createTenantWithKey(world, ["keys:read", "keys:write", "runs:read"]);
    for (const [method, path, body] of [
      ["GET", `/v1/keys/${target.id}`, undefined],
      ["DELETE", `/v1/keys/${target.id}`, undefined],
      ["POST", `/v1/keys/${target.id}/rotate`, { grace_seconds: 0 }],
    ] as const) {
      expectError(await world.call(method, path, { key: other.key.secret, body }), 404, "NOT_FOUND");
    }
    expect((await world.call("GET", "/v1/keys", { key: target.secret })).status).not.toBe(401);
  });

  test("GET /v1/keys/:id of an unknown or malformed id", async () => {
    expectError(
      await world.call("GET", "/v1/keys/key_0000000000000000000000", { key: world.rootKey }),
      404,
      "NOT_FOUND",
    );
    const malformed = await world.call("GET", "/v1/keys/not-an-id", { key: world.rootKey });
    expectError(malformed, 400, "VALIDATION_FAILED");
    expect(malformed.body.error.details[0].path).toBe("id");
  });

  test("owner filters keep commas intact", async () => {
    const key = await createKey(world, { scopes: ["runs:read"], owner: "team:a,b" });
    await createKey(world, { scopes: ["runs:read"], owner: "team:a" });
    const listed = await world.call("GET", `/v1/keys?owner=${encodeURIComponent("team:a,b")}`, {
      key: world.rootKey,
    });
    expect(listed.status).toBe(200);
    expect(listed.body.data.map((listedKey: { id: string }) => listedKey.id)).toEqual([key.id]);
  });

  test("bad pagination values are 400 naming the parameter", async () => {
    for (const query of ["limit=0", "limit=101", "limit=abc", "limit=1.5", "cursor=nope"]) {
      const answer = await world.call("GET", `/v1/keys?${query}`, { key: world.rootKey });
      expectError(answer, 400, "VALIDATION_FAILED");
      expect(answer.body.error.details[0].path).toBe(query.split("=")[0]!);
    }
  });

  test("DELETE revokes, answers the contract, and answers the same when repeated", async () => {
    const key = await createKey(world, { scopes: ["keys:read"] });
    const first = await world.call("DELETE", `/v1/keys/${key.id}`, { key: world.rootKey });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ id: key.id, object: "api_key", revoked: true });
    const again = await world.call("DELETE", `/v1/keys/${key.id}`, { key: world.rootKey });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    const read = await world.call("GET", `/v1/keys/${key.id}`, { key: world.rootKey });
    expect(read.body.revoked_at).toBe("2026-01-01T00:00:00.000Z");
    expectError(await world.call("GET", "/v1/keys", { key: key.secret }), 401, "API_KEY_REVOKED");
  });

  test("a key with keys:write may revoke itself, after which it is refused", async () => {
    const key = await createKey(world, { scopes: ["keys:write"] });
    expect((await world.call("DELETE", `/v1/keys/${key.id}`, { key: key.secret })).status).toBe(200);
    expectError(await world.call("DELETE", `/v1/keys/${key.id}`, { key: key.secret }), 401, "API_KEY_REVOKED");
  });

  test("the root key cannot be revoked (409), so the operator is never locked out", async () => {
    const rootKeyId = (await world.call("GET", "/v1/keys", { key: world.rootKey })).body.data.find(
      (key: { root: boolean }) => key.root,
    ).id;
    expectError(await world.call("DELETE", `/v1/keys/${rootKeyId}`, { key: world.rootKey }), 409, "CONFLICT");
    expect((await world.call("GET", "/v1/tenants", { key: world.rootKey })).status).toBe(200);
  });

  test("rotate gives the same id a new secret; the old one works through the grace, then is revoked", async () => {
    const key = await createKey(world, { scopes: ["keys:read"] });
    const rotated = await world.call("POST", `/v1/keys/${key.id}/rotate`, {
      key: world.rootKey,
      body: { grace_seconds: 60 },
    });
    expect(rotated.status).toBe(200);
    expect(rotated.body.id).toBe(key.id);
    expect(rotated.body.secret).not.toBe(key.secret);
    expect(rotated.body.hint).toBe(`sk_live_...${rotated.body.secret.slice(-4)}`);
    expect(rotated.body.previous_secret_expires_at).toBe("2026-01-01T00:01:00.000Z");
    world.clock.advanceMilliseconds(59_999);
    expect((await world.call("GET", "/v1/keys", { key: key.secret })).status).toBe(200);
    expect((await world.call("GET", "/v1/keys", { key: rotated.body.secret })).status).toBe(200);
    world.clock.advanceMilliseconds(1);
    expectError(await world.call("GET", "/v1/keys", { key: key.secret }), 401, "API_KEY_REVOKED");
    expect((await world.call("GET", "/v1/keys", { key: rotated.body.secret })).status).toBe(200);
  });

  test("rotate without a body retires the old secret at once", async () => {
    const key = await createKey(world, { scopes: ["keys:read"] });
    const rotated = await world.call("POST", `/v1/keys/${key.id}/rotate`, { key: world.rootKey });
    expect(rotated.status).toBe(200);
    expectError(await world.call("GET", "/v1/keys", { key: key.secret }), 401, "API_KEY_REVOKED");
  });

  test("a second rotation never extends the first one's grace", async () => {
    const key = await createKey(world, { scopes: ["keys:read"] });
    await world.call("POST", `/v1/keys/${key.id}/rotate`, { key: world.rootKey, body: { grace_seconds: 10 } });
    await world.call("POST", `/v1/keys/${key.id}/rotate`, { key: world.rootKey, body: { grace_seconds: 3600 } });
    world.clock.advanceSeconds(10);
    expectError(await world.call("GET", "/v1/keys", { key: key.secret }), 401, "API_KEY_REVOKED");
  });

  test("rotation bounds and conflicts", async () => {
    const key = await createKey(world, { scopes: ["keys:read"] });
    for (const grace of [-1, 1.5, 30 * 24 * 3600 + 1, "60"]) {
      const answer = await world.call("POST", `/v1/keys/${key.id}/rotate`, {
        key: world.rootKey,
        body: { grace_seconds: grace },
      });
      expectError(answer, 400, "VALIDATION_FAILED");
    }
    await world.call("DELETE", `/v1/keys/${key.id}`, { key: world.rootKey });
    expectError(await world.call("POST", `/v1/keys/${key.id}/rotate`, { key: world.rootKey }), 409, "CONFLICT");
  });

  test("rotating needs every scope of the key: keys:write alone cannot take over a broader key", async () => {
    const broad = await createKey(world, { scopes: ["billing:write", "runs:read"] });
    const writer = await createKey(world, { scopes: ["keys:write", "runs:read"] });
    const answer = await world.call("POST", `/v1/keys/${broad.id}/rotate`, { key: writer.secret });
    expectError(answer, 403, "SCOPE_NOT_GRANTED");
    expect(answer.body.error.details).toEqual([{ path: "scopes", message: "billing:write" }]);
    expect((await world.call("GET", `/v1/keys/${broad.id}`, { key: world.rootKey })).body.hint).toBe(broad.body.hint);
  });

  test("an expired key cannot be rotated back to life", async () => {
    const key = await createKey(world, { scopes: ["keys:read"], expires_at: "2026-01-01T00:00:10Z" });
    world.clock.advanceSeconds(10);
    expectError(await world.call("POST", `/v1/keys/${key.id}/rotate`, { key: world.rootKey }), 409, "CONFLICT");
  });
});
