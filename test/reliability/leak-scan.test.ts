/**
 * Every world scans, when it closes, the server's logs, every error body and the database image for every secret and
 * token it was handed (see test/support/world.ts). These tests show the scan would catch a leak.
 */
import { describe, expect, test } from "bun:test";
import { createKey, mintSession, startCliLogin } from "../support/keys.ts";
import { assertNoLeaks, createWorld } from "../support/world.ts";

describe("the leak scan", () => {
  test("finds a secret in text and in bytes, and names it only by its first characters", () => {
    const secret = "sk_live_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJK";
    expect(() => assertNoLeaks([secret], { logs: `{"msg":"x","key":"${secret}"}` })).toThrow("sk_live_0123… in logs");
    expect(() => assertNoLeaks([secret], { database: Buffer.from(`page…${secret}…`) })).toThrow("in database");
    expect(() => assertNoLeaks([secret], { logs: "clean", database: Buffer.from("clean") })).not.toThrow();
  });

  test("finds each of many secrets sharing a prefix, at the very start and end of a place, and short ones too", () => {
    const secrets = Array.from({ length: 2000 }, (_, index) => `sk_live_${String(index).padStart(40, "0")}`);
    const leaked = [secrets[0]!, secrets[1234]!, secrets[1999]!];
    const filler = "x".repeat(100_000);
    const database = Buffer.from(`${leaked[0]}${filler}${leaked[1]}${filler}${leaked[2]}`);
    let message = "";
    try {
      assertNoLeaks(secrets, { database });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message.match(/ in database/g)?.length).toBe(3);
    // A place holding only a secret's first characters is clean.
    expect(() => assertNoLeaks(secrets, { logs: secrets[7]!.slice(0, -1) })).not.toThrow();
    expect(() => assertNoLeaks(["short"], { logs: "a short line" })).toThrow("short… in logs");
  });

  test("a secret written to the logs fails the world's close", async () => {
    const world = await createWorld();
    const key = await createKey(world, { scopes: ["runs:read"] });
    world.deps.logger.info("a careless line", { key: key.secret });
    await expect(world.close()).rejects.toThrow("secrets leaked");
  });

  test("a secret stored in the database fails the world's close, even after its row is deleted", async () => {
    const world = await createWorld();
    const key = await createKey(world, { scopes: ["runs:read"] });
    await world.query("CREATE TABLE careless (value TEXT)");
    await world.query("INSERT INTO careless VALUES (?)", [key.secret]);
    // SQLite's file keeps a deleted row's bytes, and the scan reads the file; PostgreSQL's scan reads live rows.
    if (world.place.engine === "sqlite") await world.query("DELETE FROM careless");
    await expect(world.close()).rejects.toThrow("in database");
  });

  test("the worlds of a full flow hand out keys, tokens and CLI secrets without leaking any", async () => {
    const world = await createWorld();
    const key = await createKey(world, { scopes: ["runs:read", "cli:approve", "keys:write"] });
    await mintSession(world, key.secret);
    const login = await startCliLogin(world, { scopes: ["runs:read"] });
    await world.call("POST", `/v1/api/auth/codes/${login.userCode}/approve`, {
      key: key.secret,
      body: { user_id: "u" },
    });
    world.clock.advanceSeconds(5);
    await world.call("GET", `/v1/api/auth/sessions/${login.sessionId}`);
    await world.call("POST", `/v1/keys/${key.id}/rotate`, { key: world.rootKey });
    expect(world.handedSecrets.size).toBeGreaterThanOrEqual(6);
    await world.close();
  });
});
