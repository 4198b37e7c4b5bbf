/**
 * A key can be disabled and enabled again (`enabled`), and carries the host app's own metadata (`meta`): both set on
 * create and PATCH, returned by GET, and honoured on every surface (verify, forward-auth, management routes, the
 * tokens minted from the key), warm or cold.
 */
import { expect, test } from "bun:test";
import { createKey, expectError, mintSession } from "../support/keys.ts";
import { forEachTransport, useWorld } from "../support/transports.ts";
import type { World } from "../support/world.ts";

async function setEnabled(world: World, keyId: string, enabled: boolean) {
  const answer = await world.call("PATCH", `/v1/keys/${keyId}`, { key: world.rootKey, body: { enabled } });
  expect(answer.status).toBe(200);
  expect(answer.body.enabled).toBe(enabled);
  // This node's cache hears of its own change through the change log, as every other node does.
  await world.deps.changeLog.catchUp();
}

/** A JSON object of `properties` top-level properties whose serialisation is exactly `bytes` long. */
function metaOfSize(properties: number, bytes: number): Record<string, string> {
  const meta: Record<string, string> = {};
  for (let index = 0; index < properties; index++) meta[`p${index}`] = "";
  const padding = bytes - JSON.stringify(meta).length;
  meta.p0 = "x".repeat(padding);
  expect(JSON.stringify(meta).length).toBe(bytes);
  return meta;
}

forEachTransport("enabled and meta", (transport) => {
  const world = useWorld({ transport });

  test("a key is enabled by default, and GET, the list and the created key all say so", async () => {
    const key = await createKey(world, { scopes: ["runs:read"] });
    expect({ enabled: key.body.enabled, meta: key.body.meta }).toEqual({ enabled: true, meta: null });
    const read = await world.call("GET", `/v1/keys/${key.id}`, { key: world.rootKey });
    expect({ enabled: read.body.enabled, meta: read.body.meta }).toEqual({ enabled: true, meta: null });
    const listed = await world.call("GET", "/v1/keys", { key: world.rootKey });
    expect(listed.body.data.find((entry: { id: string }) => entry.id === key.id).enabled).toBe(true);
  });

  test("a disabled key is refused API_KEY_DISABLED everywhere, warm or not, until enabled again", async () => {
    const key = await createKey(world, { scopes: ["runs:read", "keys:read"] });
    const surfaces = async () => {
      const authz = await world.call("GET", "/v1/authz", { key: key.secret });
      const verify = await world.call("POST", "/v1/keys/verify", { body: { key: key.secret } });
      const management = await world.call("GET", "/v1/keys", { key: key.secret });
      return {
        authz: [authz.status, authz.headers.get("x-latchkey-error")],
        verify: [verify.body.valid, verify.body.code, verify.body.key_id],
        management: [management.status, management.body.error?.code ?? null],
      };
    };
    const allowed = { authz: [200, null], verify: [true, "VALID", key.id], management: [200, null] };
    expect(await surfaces()).toEqual(allowed); // and now warm in memory
    await setEnabled(world, key.id, false);
    expect(await surfaces()).toEqual({
      authz: [401, "API_KEY_DISABLED"],
      verify: [false, "API_KEY_DISABLED", key.id],
      management: [401, "API_KEY_DISABLED"],
    });
    expectError(await world.call("GET", "/v1/keys", { key: key.secret }), 401, "API_KEY_DISABLED");
    await setEnabled(world, key.id, true);
    expect(await surfaces()).toEqual(allowed);
  });

  test("created disabled, a key is refused from its first use; a disabled key's tokens are refused too", async () => {
    const dormant = await createKey(world, { scopes: ["runs:read"] });
    const created = await world.call("POST", "/v1/keys", {
      key: world.rootKey,
      body: { name: "dormant", scopes: ["runs:read"], enabled: false },
    });
    expect(created.body.enabled).toBe(false);
    const refused = await world.call("POST", "/v1/keys/verify", { body: { key: created.body.secret } });
    expect(refused.body.code).toBe("API_KEY_DISABLED");

    const token = await mintSession(world, dormant.secret);
    const withToken = () => world.call("GET", "/v1/authz", { headers: { "x-session-token": token } });
    expect((await withToken()).status).toBe(200);
    await setEnabled(world, dormant.id, false);
    const answer = await withToken();
    expect([answer.status, answer.headers.get("x-latchkey-error")]).toEqual([401, "API_KEY_DISABLED"]);
    const verified = await world.call("POST", "/v1/keys/verify", { body: { token } });
    expect([verified.body.valid, verified.body.code]).toEqual([false, "API_KEY_DISABLED"]);
    expectError(
      await world.call("POST", "/v1/sessions", { key: dormant.secret, body: { user_id: "u" } }),
      401,
      "API_KEY_DISABLED",
    );
    await setEnabled(world, dormant.id, true);
    expect((await withToken()).status).toBe(200);
  });

  test("a refused, disabled key spends nothing: its bucket is as full after as before", async () => {
    const key = await createKey(world, { scopes: ["runs:read"] });
    const remaining = async () =>
      (await world.call("POST", "/v1/keys/verify", { body: { key: key.secret } })).body.ratelimit?.remaining;
    const before = await remaining();
    await setEnabled(world, key.id, false);
    for (let attempt = 0; attempt < 5; attempt++) await world.call("GET", "/v1/authz", { key: key.secret });
    await setEnabled(world, key.id, true);
    expect(await remaining()).toBe(before - 1);
  });

  test("the root key cannot be disabled (409), so the operator is never locked out", async () => {
    const keys = await world.call("GET", "/v1/keys", { key: world.rootKey });
    const rootId = keys.body.data.find((entry: { root: boolean }) => entry.root).id;
    const answer = await world.call("PATCH", `/v1/keys/${rootId}`, { key: world.rootKey, body: { enabled: false } });
    expectError(answer, 409, "CONFLICT");
    expect(answer.body.error.details).toEqual([{ path: "enabled", message: "cannot be false on the root key" }]);
    expect((await world.call("GET", "/v1/keys", { key: world.rootKey })).status).toBe(200);
  });

  test("meta is returned on read and on verify (key and tokens); PATCH replaces it, null removes it", async () => {
    const meta = { plan: "pro", customer: { id: 42, tags: ["a", "b"] }, trial: false };
    const created = await world.call("POST", "/v1/keys", {
      key: world.rootKey,
      body: { name: "with meta", scopes: ["runs:read"], meta },
    });
    expect(created.body.meta).toEqual(meta);
    const { id, secret } = created.body;
    expect((await world.call("GET", `/v1/keys/${id}`, { key: world.rootKey })).body.meta).toEqual(meta);
    for (let round = 0; round < 2; round++) {
      // The second round is answered from memory: the same meta.
      expect((await world.call("POST", "/v1/keys/verify", { body: { key: secret } })).body.meta).toEqual(meta);
    }
    const token = await mintSession(world, secret);
    expect((await world.call("POST", "/v1/keys/verify", { body: { token } })).body.meta).toEqual(meta);

    const replaced = await world.call("PATCH", `/v1/keys/${id}`, {
      key: world.rootKey,
      body: { meta: { plan: "free" } },
    });
    expect(replaced.body.meta).toEqual({ plan: "free" });
    await world.deps.changeLog.catchUp();
    expect((await world.call("POST", "/v1/keys/verify", { body: { key: secret } })).body.meta).toEqual({
      plan: "free",
    });
    const unchanged = await world.call("PATCH", `/v1/keys/${id}`, { key: world.rootKey, body: { name: "renamed" } });
    expect(unchanged.body.meta).toEqual({ plan: "free" });
    const removed = await world.call("PATCH", `/v1/keys/${id}`, { key: world.rootKey, body: { meta: null } });
    expect(removed.body.meta).toBeNull();
    await world.deps.changeLog.catchUp();
    expect((await world.call("POST", "/v1/keys/verify", { body: { key: secret } })).body.meta).toBeNull();
  });

  test("meta's bounds: 100 properties and 4 KB as JSON pass; one more of either is a 400 naming meta", async () => {
    const create = (body: Record<string, unknown>) =>
      world.call("POST", "/v1/keys", { key: world.rootKey, body: { name: "k", scopes: ["runs:read"], ...body } });
    expect((await create({ meta: metaOfSize(100, 1000) })).status).toBe(200);
    expect((await create({ meta: metaOfSize(10, 4096) })).status).toBe(200);
    const tooMany = await create({ meta: metaOfSize(101, 1500) });
    expectError(tooMany, 400, "VALIDATION_FAILED");
    expect(tooMany.body.error.details).toEqual([
      { path: "meta", message: "must have at most 100 top-level properties" },
    ]);
    const tooLarge = await create({ meta: metaOfSize(10, 4097) });
    expectError(tooLarge, 400, "VALIDATION_FAILED");
    expect(tooLarge.body.error.details).toEqual([{ path: "meta", message: "must be at most 4096 bytes as JSON" }]);
    // Bytes, not characters: 2,000 two-byte characters are 4 KB and more.
    expectError(await create({ meta: { note: "é".repeat(2100) } }), 400, "VALIDATION_FAILED");
    for (const meta of [[], "plan", 42, true, null]) {
      const answer = await create({ meta });
      expect({ meta, status: answer.status, path: answer.body.error?.details?.[0]?.path }).toEqual({
        meta,
        status: 400,
        path: "meta",
      });
    }
    for (const enabled of ["false", 0, null]) {
      const answer = await create({ enabled });
      expect({ enabled, status: answer.status }).toEqual({ enabled, status: 400 });
    }
    const key = await createKey(world, { scopes: ["runs:read"] });
    const patched = await world.call("PATCH", `/v1/keys/${key.id}`, {
      key: world.rootKey,
      body: { meta: metaOfSize(101, 1500) },
    });
    expectError(patched, 400, "VALIDATION_FAILED");
    expect((await world.call("GET", `/v1/keys/${key.id}`, { key: world.rootKey })).body.meta).toBeNull();
  });

  test("enabling, disabling and changing meta are audited with the values before and after", async () => {
    const key = await createKey(world, { scopes: ["runs:read"] });
    await world.call("PATCH", `/v1/keys/${key.id}`, {
      key: world.rootKey,
      body: { enabled: false, meta: { plan: "pro" } },
    });
    const audit = await world.call("GET", "/v1/audit?action=key.updated", { key: world.rootKey });
    const event = audit.body.data.find((entry: { target: { id: string } }) => entry.target.id === key.id);
    expect(event.details.before).toMatchObject({ enabled: true, meta: null });
    expect(event.details.after).toMatchObject({ enabled: false, meta: { plan: "pro" } });
  });
});
