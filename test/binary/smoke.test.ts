/**
 * The compiled binary, driven over HTTP as a user would: nothing but the executable and a database path.
 */

import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, statSync } from "node:fs";
import { settingsOf } from "../../src/app/commands/help.ts";
import { COMMANDS } from "../../src/app/commands/table.ts";
import { CONFIG_SETTINGS } from "../../src/app/config.ts";
import { SQLITE_MIGRATIONS } from "../../src/db/migrate.ts";
import { generateSecret, ROOT_KEY_PREFIX } from "../../src/domain/keys/secret.ts";
import { callJson, runBinary, startBinary, useBuiltBinary } from "../support/binary.ts";

const built = useBuiltBinary("smoke");
const freshDatabasePath = built.freshDatabasePath;

describe("the latchkey binary", () => {
  test("create a key, use it, revoke it, restart: the key is still revoked", async () => {
    const db = freshDatabasePath();
    const rootKey = generateSecret(ROOT_KEY_PREFIX);
    const first = await startBinary(built.path, { args: ["--db", db], env: { LATCHKEY_ROOT_KEY: rootKey } });
    const created = await callJson(first.url, "POST", "/v1/keys", {
      key: rootKey,
      body: { name: "smoke", scopes: ["keys:read"] },
    });
    expect(created.status).toBe(200);
    expect((await callJson(first.url, "GET", "/v1/keys", { key: created.body.secret })).status).toBe(200);
    expect((await callJson(first.url, "DELETE", `/v1/keys/${created.body.id}`, { key: rootKey })).body.revoked).toBe(
      true,
    );
    expect((await callJson(first.url, "GET", "/v1/keys", { key: created.body.secret })).body.error.code).toBe(
      "API_KEY_REVOKED",
    );
    expect(await first.stop()).toBe(0);

    const second = await startBinary(built.path, { args: ["--db", db], env: { LATCHKEY_ROOT_KEY: rootKey } });
    const afterRestart = await callJson(second.url, "GET", "/v1/keys", { key: created.body.secret });
    expect({ status: afterRestart.status, code: afterRestart.body.error.code }).toEqual({
      status: 401,
      code: "API_KEY_REVOKED",
    });
    expect((await callJson(second.url, "GET", "/readyz")).status).toBe(200);
    await second.stop();
    expect(first.stdout() + first.stderr() + second.stdout() + second.stderr()).not.toContain(created.body.secret);
  });

  test("the first start prints a root key once; restarts never create another", async () => {
    const db = freshDatabasePath();
    const first = await startBinary(built.path, { args: ["--db", db] });
    const printed = /\n\s+(lk_root_[0-9A-Za-z]{49})\n/.exec(first.stdout())?.[1];
    expect(printed).toBeDefined();
    expect((await callJson(first.url, "GET", "/v1/tenants", { key: printed })).status).toBe(200);
    await first.stop();
    const second = await startBinary(built.path, { args: ["--db", db] });
    expect(second.stdout()).not.toContain("lk_root_");
    const listed = await callJson(second.url, "GET", "/v1/keys", { key: printed });
    expect(listed.body.data.filter((key: { root: boolean }) => key.root).length).toBe(1);
    await second.stop();
  });

  test("LATCHKEY_ROOT_KEY becomes the root key on first start; a different one later is ignored, loudly", async () => {
    const db = freshDatabasePath();
    const rootKey = generateSecret(ROOT_KEY_PREFIX);
    const first = await startBinary(built.path, { args: ["--db", db], env: { LATCHKEY_ROOT_KEY: rootKey } });
    expect(first.stdout()).not.toContain(rootKey);
    expect(first.stdout()).not.toContain("lk_root_");
    await first.stop();
    const impostor = generateSecret(ROOT_KEY_PREFIX);
    const second = await startBinary(built.path, { args: ["--db", db], env: { LATCHKEY_ROOT_KEY: impostor } });
    expect(second.stderr()).toContain("LATCHKEY_ROOT_KEY is not the root key of this database");
    expect((await callJson(second.url, "GET", "/v1/tenants", { key: impostor })).status).toBe(401);
    expect((await callJson(second.url, "GET", "/v1/tenants", { key: rootKey })).status).toBe(200);
    await second.stop();
    expect(second.stdout() + second.stderr()).not.toContain(impostor);
  });

  test("eight processes at once on a fresh file: one root key, one signing key, one set of migrations", async () => {
    const db = freshDatabasePath();
    const servers = await Promise.all(
      Array.from({ length: 8 }, () =>
        startBinary(built.path, { args: ["--db", db], readyTimeoutMilliseconds: 30_000 }),
      ),
    );
    try {
      const readiness = await Promise.all(servers.map((server) => callJson(server.url, "GET", "/readyz")));
      expect(readiness.map((answer) => answer.status)).toEqual(Array(8).fill(200));
      const banners = servers.filter((server) => server.stdout().includes("lk_root_"));
      expect(banners.length).toBe(1);
    } finally {
      await Promise.all(servers.map((server) => server.stop()));
    }
    const sqlite = new Database(db, { readonly: true });
    expect(sqlite.query("SELECT count(*) AS n FROM api_keys WHERE is_root = 1").get()).toEqual({ n: 1 });
    expect(sqlite.query("SELECT count(*) AS n FROM tenants").get()).toEqual({ n: 1 });
    expect(sqlite.query("SELECT count(*) AS n FROM signing_keys").get()).toEqual({ n: 1 });
    expect(sqlite.query("SELECT count(*) AS n FROM latchkey_migrations").get()).toEqual({
      n: SQLITE_MIGRATIONS.length,
    });
    sqlite.close();
  }, 60_000);

  test("a second server on a port in use fails clearly instead of sharing the port", async () => {
    const first = await startBinary(built.path, { args: ["--db", freshDatabasePath()] });
    const port = new URL(first.url).port;
    const second = runBinary(built.path, ["serve", "--port", port, "--db", freshDatabasePath()]);
    expect(second.exitCode).toBe(1);
    expect(second.stderr).toContain(`port ${port}`);
    expect(second.stderr).toContain("already in use");
    await first.stop();
  });

  test("a database or Redis that cannot be reached fails the start in one line, before any root key", () => {
    const noRedis = runBinary(built.path, [
      "serve",
      "--port",
      "0",
      "--db",
      freshDatabasePath(),
      "--redis-url",
      "redis://127.0.0.1:1",
    ]);
    expect(noRedis.exitCode).toBe(1);
    expect(noRedis.stderr).toContain("latchkey: cannot reach Redis at 127.0.0.1:1 (LATCHKEY_REDIS_URL)");
    expect(noRedis.stdout).not.toContain("lk_root_");
    const noDatabase = runBinary(built.path, [
      "serve",
      "--port",
      "0",
      "--database-url",
      "postgres://u:secret@127.0.0.1:1/db",
    ]);
    expect(noDatabase.exitCode).toBe(1);
    expect(noDatabase.stderr).toContain("latchkey: cannot reach the database at postgres://127.0.0.1:1/db");
    expect(noDatabase.stderr).not.toContain("secret");
    expect(noDatabase.stdout).not.toContain("lk_root_");
  });

  test("regression: a start that cannot bind its port creates no root key; the next start shows one", async () => {
    const first = await startBinary(built.path, { args: ["--db", freshDatabasePath()] });
    const port = new URL(first.url).port;
    const db = freshDatabasePath();
    const refused = runBinary(built.path, ["serve", "--port", port, "--db", db]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stdout).not.toContain("lk_root_");
    await first.stop();
    const sqlite = new Database(db, { readonly: true });
    expect(sqlite.query("SELECT count(*) AS n FROM api_keys").get()).toEqual({ n: 0 });
    sqlite.close();
    const next = await startBinary(built.path, { args: ["--db", db] });
    const printed = /\n\s+(lk_root_[0-9A-Za-z]{49})\n/.exec(next.stdout())?.[1];
    expect(printed).toBeDefined();
    expect((await callJson(next.url, "GET", "/v1/tenants", { key: printed })).status).toBe(200);
    await next.stop();
  });

  test("regression: the database and its -wal and -shm are created readable by their owner only", async () => {
    const db = freshDatabasePath();
    const server = await startBinary(built.path, { args: ["--db", db] });
    for (const file of [db, `${db}-wal`, `${db}-shm`]) expect((statSync(file).mode & 0o777).toString(8)).toBe("600");
    expect(server.stderr()).toContain("LATCHKEY_MASTER_KEY is not set");
    expect(server.stderr()).not.toContain("readable or writable by other users");
    await server.stop();
    chmodSync(db, 0o644);
    const again = await startBinary(built.path, { args: ["--db", db], env: { LATCHKEY_MASTER_KEY: "m".repeat(40) } });
    expect(again.stderr()).toContain(`${db} is readable or writable by other users (mode 644)`);
    expect(again.stderr()).not.toContain("LATCHKEY_MASTER_KEY is not set");
    await again.stop();
  });

  test("regression: a closed pipe ends `latchkey openapi` quietly", () => {
    const result = Bun.spawnSync(["sh", "-c", `'${built.path}' openapi | head -c 100`], {
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(result.stdout.toString().length).toBe(100);
    expect(result.stderr.toString()).toBe("");
  });

  test("regression: an unknown flag with a value is one problem, not two", () => {
    const result = runBinary(built.path, ["serve", "--bogus-flag", "1", "--port", "80800"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("--bogus-flag: unknown flag");
    expect(result.stderr).not.toContain("1: unknown flag");
    expect(result.stderr).toContain("LATCHKEY_PORT / --port");
  });

  test("bad configuration exits 2 naming every bad variable", () => {
    const result = runBinary(built.path, ["serve"], { LATCHKEY_PORT: "http", LATCHKEY_LOG_LEVEL: "chatty" });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("LATCHKEY_PORT");
    expect(result.stderr).toContain("LATCHKEY_LOG_LEVEL");
  });

  test("openapi, version, migrate, keygen and --help", () => {
    const document = runBinary(built.path, ["openapi"]);
    expect(document.exitCode).toBe(0);
    expect(JSON.parse(document.stdout).paths["/v1/keys"]).toBeDefined();
    expect(runBinary(built.path, ["version"]).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const db = freshDatabasePath();
    expect(runBinary(built.path, ["migrate", "--db", db]).stdout).toContain("applied 0000_foundation");
    expect(runBinary(built.path, ["migrate", "--db", db]).stdout).toContain("up to date");
    expect(runBinary(built.path, ["keygen"]).stdout.trim()).toMatch(/^lk_root_[0-9A-Za-z]{49}$/);
    const help = runBinary(built.path, ["--help"]);
    for (const word of [
      "serve",
      "migrate",
      "openapi",
      "version",
      "--port",
      "--db",
      "--public-url",
      "LATCHKEY_ROOT_KEY",
    ]) {
      expect(help.stdout).toContain(word);
    }
    expect(runBinary(built.path, ["explode"]).exitCode).toBe(2);
  });

  test("regression: `<command> --help` said unknown flag and exited 2; it prints that command's help", () => {
    for (const command of COMMANDS) {
      const forms = [
        [command.name, "--help"],
        [command.name, "-h"],
      ];
      // A command with actions takes help after its action too: `latchkey signing-keys rotate --help`.
      const action = /^\S+ ([a-z]+)/.exec(command.usage[0]!)?.[1];
      if (action !== undefined && !action.startsWith("-")) forms.push([command.name, action, "--help"]);
      for (const args of forms) {
        const help = runBinary(built.path, args);
        expect({ args, exitCode: help.exitCode, stderr: help.stderr }).toEqual({ args, exitCode: 0, stderr: "" });
        expect(help.stdout).toContain(`Usage:\n  latchkey ${command.usage[0]}`);
        for (const setting of settingsOf(command)) expect(help.stdout).toContain(setting.env);
      }
    }
    const serve = runBinary(built.path, ["serve", "--help"]).stdout;
    for (const setting of CONFIG_SETTINGS) expect(serve).toContain(setting.env);
    // Help is asked before anything runs: no database is created, no server starts.
    const db = freshDatabasePath();
    expect(runBinary(built.path, ["migrate", "--db", db, "--help"]).exitCode).toBe(0);
    expect(existsSync(db)).toBe(false);
    const overview = runBinary(built.path, ["--help"]).stdout;
    for (const command of COMMANDS) expect(overview).toContain(`latchkey ${command.usage[0]}`);
  });

  test("serves /docs with the reader embedded", async () => {
    const server = await startBinary(built.path, { args: ["--db", freshDatabasePath()] });
    const page = await fetch(`${server.url}/docs`);
    expect(await page.text()).toContain("/docs/scalar.js");
    const bundle = await fetch(`${server.url}/docs/scalar.js`);
    expect(bundle.status).toBe(200);
    expect((await bundle.arrayBuffer()).byteLength).toBeGreaterThan(1_000_000);
    await server.stop();
  });
});
