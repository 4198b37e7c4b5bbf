/**
 * The hot path: a warm verification touches no disk, writes are batched, and changes made anywhere reach every
 * process's caches.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { fingerprintPlace, statementsRun } from "../support/engines.ts";
import { createKey, mintSession } from "../support/keys.ts";
import { createWorld, type World, type WorldOptions } from "../support/world.ts";

/** Two worlds on one database: two latchkey processes sharing a file, or two nodes sharing PostgreSQL. */
async function twoProcesses(options: WorldOptions = {}) {
  const first = await createWorld({ ...options, shareable: true });
  const second = await createWorld({ ...options, joining: first });
  return {
    first,
    second,
    close: async () => {
      await second.close();
      await first.close();
    },
  };
}

describe("the hot path", () => {
  const worlds: World[] = [];
  afterEach(async () => {
    await Promise.all(worlds.splice(0).map((world) => world.close()));
  });

  test("a warm verification of a key or a token runs no query at all, and writes nothing", async () => {
    const world = await createWorld();
    worlds.push(world);
    const key = await createKey(world, { scopes: ["runs:read"] });
    const token = await mintSession(world, key.secret);
    const verify = () => world.call("POST", "/v1/keys/verify", { body: { key: key.secret } });
    const authz = (headers: Record<string, string>) => world.call("GET", "/v1/authz", { headers });
    await verify();
    await authz({ "x-session-token": token });
    const rowsBefore = await fingerprintPlace(world.storage);
    const statementsBefore = statementsRun(world.storage);
    for (let round = 0; round < 20; round++) {
      expect((await verify()).body.valid).toBe(true);
      expect((await authz({ authorization: `Bearer ${key.secret}` })).status).toBe(200);
      expect((await authz({ "x-session-token": token })).status).toBe(200);
    }
    expect(statementsRun(world.storage)).toBe(statementsBefore);
    expect(await fingerprintPlace(world.storage)).toBe(rowsBefore);
  });

  test("a cold verification reads key, secrets, project and tenant in one query; a token's parent too", async () => {
    const { first, second, close } = await twoProcesses();
    try {
      const key = await createKey(first, { scopes: ["runs:read"] });
      const parent = await createKey(first, { scopes: ["runs:read"] });
      const token = await mintSession(first, parent.secret);
      await second.deps.changeLog.catchUp();
      const queriesOf = async (body: Record<string, string>) => {
        const before = statementsRun(second.storage);
        expect((await second.call("POST", "/v1/keys/verify", { body })).body.code).toBe("VALID");
        return statementsRun(second.storage) - before;
      };
      expect(await queriesOf({ key: key.secret })).toBe(1);
      expect(await queriesOf({ token })).toBe(1);
      expect(await queriesOf({ key: key.secret })).toBe(0);
      // A key this node has seen, dropped by a change it heard of: read again, still in one query.
      await first.call("PATCH", `/v1/keys/${key.id}`, { key: first.rootKey, body: { name: "renamed" } });
      await second.deps.changeLog.catchUp();
      expect(await queriesOf({ key: key.secret })).toBe(1);
    } finally {
      await close();
    }
  });

  test("usage is written in one batch at flush: last_used_at and the count", async () => {
    const world = await createWorld();
    worlds.push(world);
    const key = await createKey(world, { scopes: ["runs:read"] });
    world.clock.advanceSeconds(30);
    for (let index = 0; index < 5; index++) await world.call("POST", "/v1/keys/verify", { body: { key: key.secret } });
    const unflushed = await world.call("GET", `/v1/keys/${key.id}`, { key: world.rootKey });
    expect(unflushed.body).toMatchObject({ last_used_at: null, usage_count: 0 });
    expect(await world.deps.usage.flush(world.storage)).toBe(2); // the key, and the root key that read it
    const flushed = await world.call("GET", `/v1/keys/${key.id}`, { key: world.rootKey });
    expect(flushed.body).toMatchObject({ last_used_at: "2026-01-01T00:00:30.000Z", usage_count: 5 });
  });

  test("a revocation in one process or node reaches the others' caches", async () => {
    const { first, second, close } = await twoProcesses();
    try {
      const key = await createKey(first, { scopes: ["runs:read"] });
      const token = await mintSession(first, key.secret);
      const check = async () => ({
        key: (await second.call("POST", "/v1/keys/verify", { body: { key: key.secret } })).body.code,
        token: (await second.call("POST", "/v1/keys/verify", { body: { token } })).body.code,
      });
      expect(await check()).toEqual({ key: "VALID", token: "VALID" }); // now cached in the second process
      await first.call("DELETE", `/v1/keys/${key.id}`, { key: first.rootKey });
      expect(await second.deps.changeLog.catchUp()).toBe(true);
      expect(await check()).toEqual({ key: "API_KEY_REVOKED", token: "API_KEY_REVOKED" });

      const { body: tenant } = await first.call("GET", `/v1/tenants/${first.defaultTenantId}`, { key: first.rootKey });
      const other = await createKey(first, { scopes: ["runs:read"] });
      expect((await second.call("POST", "/v1/keys/verify", { body: { key: other.secret } })).body.code).toBe("VALID");
      await first.call("PATCH", `/v1/tenants/${tenant.id}`, { key: first.rootKey, body: { status: "suspended" } });
      await second.deps.changeLog.catchUp();
      expect((await second.call("POST", "/v1/keys/verify", { body: { key: other.secret } })).body.code).toBe(
        "TENANT_SUSPENDED",
      );
    } finally {
      await close();
    }
  });

  test("SQLite: a process sharing the file sees a revocation at its next read of the log, not before", async () => {
    const { first, second, close } = await twoProcesses({ engine: "sqlite" });
    try {
      const key = await createKey(first, { scopes: ["runs:read"] });
      const verify = async () =>
        (await second.call("POST", "/v1/keys/verify", { body: { key: key.secret } })).body.code;
      expect(await verify()).toBe("VALID"); // now cached in the second process
      await first.call("DELETE", `/v1/keys/${key.id}`, { key: first.rootKey });
      expect(await verify()).toBe("VALID"); // not read yet: still the cached row
      expect(await second.deps.changeLog.poll()).toBe(1);
      expect(await verify()).toBe("API_KEY_REVOKED");
    } finally {
      await close();
    }
  });

  test("SQLite: a process that missed pruned changes drops its caches instead of trusting them", async () => {
    const { first, second, close } = await twoProcesses({ engine: "sqlite" });
    try {
      const key = await createKey(first, { scopes: ["runs:read"] });
      expect((await second.call("POST", "/v1/keys/verify", { body: { key: key.secret } })).body.code).toBe("VALID");
      await first.call("DELETE", `/v1/keys/${key.id}`, { key: first.rootKey });
      first.clock.advanceSeconds(2 * 60 * 60);
      await first.deps.changeLog.prune(first.clock.nowMilliseconds());
      await first.call("PATCH", `/v1/tenants/${first.defaultTenantId}`, {
        key: first.rootKey,
        body: { name: "renamed" },
      });
      await second.deps.changeLog.poll();
      expect((await second.call("POST", "/v1/keys/verify", { body: { key: key.secret } })).body.code).toBe(
        "API_KEY_REVOKED",
      );
    } finally {
      await close();
    }
  });
});
