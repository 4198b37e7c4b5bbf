/**
 * The hot path: a warm verification touches no disk, writes are batched, and changes made anywhere reach every
 * process's caches.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { makeTempDir } from "../support/binary.ts";
import { createKey, mintSession } from "../support/keys.ts";
import { createWorld, type World } from "../support/world.ts";

/** Counts the statements the app prepares: drizzle prepares one per query it runs. */
function countQueries(world: World) {
  const sqlite = world.deps.sqlite as unknown as { prepare: (...args: unknown[]) => unknown };
  const original = sqlite.prepare.bind(sqlite);
  let count = 0;
  sqlite.prepare = (...args: unknown[]) => {
    count++;
    return original(...args);
  };
  return {
    get count() {
      return count;
    },
  };
}

/** Two worlds on one database file: two latchkey processes sharing it, as sidecars on one volume do. */
async function twoProcesses(label: string) {
  const folder = makeTempDir(label);
  const path = join(folder.path, "shared.db");
  const first = await createWorld({ databasePath: path });
  const second = await createWorld({ databasePath: path, rootKey: first.rootKey });
  return {
    first,
    second,
    close: async () => {
      await Promise.all([first.close(), second.close()]);
      folder.remove();
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
    const changesBefore = (world.deps.sqlite.query("SELECT total_changes() AS n").get() as { n: number }).n;
    const queries = countQueries(world);
    for (let round = 0; round < 20; round++) {
      expect((await verify()).body.valid).toBe(true);
      expect((await authz({ authorization: `Bearer ${key.secret}` })).status).toBe(200);
      expect((await authz({ "x-session-token": token })).status).toBe(200);
    }
    expect(queries.count).toBe(0);
    expect((world.deps.sqlite.query("SELECT total_changes() AS n").get() as { n: number }).n).toBe(changesBefore);
  });

  test("usage is written in one batch at flush: last_used_at and the count", async () => {
    const world = await createWorld();
    worlds.push(world);
    const key = await createKey(world, { scopes: ["runs:read"] });
    world.clock.advanceSeconds(30);
    for (let index = 0; index < 5; index++) await world.call("POST", "/v1/keys/verify", { body: { key: key.secret } });
    const unflushed = await world.call("GET", `/v1/keys/${key.id}`, { key: world.rootKey });
    expect(unflushed.body).toMatchObject({ last_used_at: null, usage_count: 0 });
    expect(world.deps.usage.flush(world.deps.db)).toBe(2); // the key, and the root key that read it
    const flushed = await world.call("GET", `/v1/keys/${key.id}`, { key: world.rootKey });
    expect(flushed.body).toMatchObject({ last_used_at: "2026-01-01T00:00:30.000Z", usage_count: 5 });
  });

  test("a revocation in one process reaches another sharing the file at its next poll", async () => {
    const { first, second, close } = await twoProcesses("two-processes");
    try {
      const key = await createKey(first, { scopes: ["runs:read"] });
      const token = await mintSession(first, key.secret);
      const check = async () => ({
        key: (await second.call("POST", "/v1/keys/verify", { body: { key: key.secret } })).body.code,
        token: (await second.call("POST", "/v1/keys/verify", { body: { token } })).body.code,
      });
      expect(await check()).toEqual({ key: "VALID", token: "VALID" }); // now cached in the second process
      await first.call("DELETE", `/v1/keys/${key.id}`, { key: first.rootKey });
      expect(await check()).toEqual({ key: "VALID", token: "VALID" }); // not polled yet: still the cached row
      expect(second.deps.changeLog.poll()).toBe(1);
      expect(await check()).toEqual({ key: "API_KEY_REVOKED", token: "API_KEY_REVOKED" });

      const { body: tenant } = await first.call("GET", `/v1/tenants/${first.defaultTenantId}`, { key: first.rootKey });
      const other = await createKey(first, { scopes: ["runs:read"] });
      expect((await second.call("POST", "/v1/keys/verify", { body: { key: other.secret } })).body.code).toBe("VALID");
      await first.call("PATCH", `/v1/tenants/${tenant.id}`, { key: first.rootKey, body: { status: "suspended" } });
      second.deps.changeLog.poll();
      expect((await second.call("POST", "/v1/keys/verify", { body: { key: other.secret } })).body.code).toBe(
        "TENANT_SUSPENDED",
      );
    } finally {
      await close();
    }
  });

  test("a process that missed pruned changes drops its caches instead of trusting them", async () => {
    const { first, second, close } = await twoProcesses("pruned");
    try {
      const key = await createKey(first, { scopes: ["runs:read"] });
      expect((await second.call("POST", "/v1/keys/verify", { body: { key: key.secret } })).body.code).toBe("VALID");
      await first.call("DELETE", `/v1/keys/${key.id}`, { key: first.rootKey });
      first.clock.advanceSeconds(2 * 60 * 60);
      first.deps.changeLog.prune(first.clock.nowMilliseconds());
      await first.call("PATCH", `/v1/tenants/${first.defaultTenantId}`, {
        key: first.rootKey,
        body: { name: "renamed" },
      });
      second.deps.changeLog.poll();
      expect((await second.call("POST", "/v1/keys/verify", { body: { key: key.secret } })).body.code).toBe(
        "API_KEY_REVOKED",
      );
    } finally {
      await close();
    }
  });
});
