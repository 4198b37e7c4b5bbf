/**
 * Backups while the server runs and writes, and restoring them, as docs/operations.md says to: `latchkey backup` and
 * `latchkey restore` on SQLite; on PostgreSQL the pg_dump and pg_restore commands the document gives, run as written
 * (PostgreSQL pass only). Every key and revocation acknowledged before a backup began is in it.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { generateSecret, ROOT_KEY_PREFIX } from "../../src/domain/keys/secret.ts";
import {
  callJson,
  makeTempDir,
  type RunningBinary,
  runBinary,
  startBinary,
  useBuiltBinary,
} from "../support/binary.ts";
import { testPostgresUrl, withAdmin } from "../support/engines.ts";

const built = useBuiltBinary("backup");
const operations = await Bun.file(new URL("../../docs/operations.md", import.meta.url)).text();
/** Failed verifications (the keys a backup must not hold) are not this test's subject: no throttling. */
const SERVE_FLAGS = ["--auth-failures-per-minute", "1000000"];

interface Written {
  /** Keys whose creation was acknowledged, in order: whether a revocation was sent, and whether it was acknowledged. */
  keys: { id: string; secret: string; revoking: boolean; revoked: boolean }[];
  stop(): Promise<void>;
}

/** Four writers creating keys (and revoking every fourth) until stopped. */
function keepWriting(url: string, rootKey: string): Written {
  const keys: Written["keys"] = [];
  let stopping = false;
  const writer = async (writerIndex: number) => {
    for (let round = 0; !stopping; round++) {
      const created = await callJson(url, "POST", "/v1/keys", {
        key: rootKey,
        body: { name: `w${writerIndex}-${round}`, scopes: ["runs:read"] },
      });
      expect(created.status).toBe(200);
      const key = {
        id: created.body.id as string,
        secret: created.body.secret as string,
        revoking: false,
        revoked: false,
      };
      keys.push(key);
      if (round % 4 === 3) {
        key.revoking = true;
        expect((await callJson(url, "DELETE", `/v1/keys/${key.id}`, { key: rootKey })).status).toBe(200);
        key.revoked = true;
      }
    }
  };
  const writers = Promise.all([0, 1, 2, 3].map(writer));
  return {
    keys,
    stop: async () => {
      stopping = true;
      await writers;
    },
  };
}

async function codeOf(server: RunningBinary, secret: string): Promise<string> {
  return (await callJson(server.url, "POST", "/v1/keys/verify", { body: { key: secret } })).body.code;
}

/**
 * Every key acknowledged before the backup began answers as it did then (one whose revocation was still on its way
 * may answer either way); keys made after the backup ended are unknown.
 */
async function expectHolds(server: RunningBinary, before: Written["keys"], after: Written["keys"]) {
  const expected = (key: Written["keys"][number]) => {
    if (key.revoked) return ["API_KEY_REVOKED"];
    return key.revoking ? ["VALID", "API_KEY_REVOKED"] : ["VALID"];
  };
  const seen = await Promise.all(
    before.map(async (key) => ({ id: key.id, expected: expected(key), code: await codeOf(server, key.secret) })),
  );
  expect(seen.filter((key) => !key.expected.includes(key.code))).toEqual([]);
  expect(seen.filter((key) => key.code === "API_KEY_REVOKED").length).toBeGreaterThan(0);
  for (const key of after.slice(-5)) expect(await codeOf(server, key.secret)).toBe("API_KEY_INVALID");
}

/** Waits until at least `count` keys are acknowledged. */
async function untilWritten(written: Written, count: number) {
  while (written.keys.length < count) await Bun.sleep(5);
}

/** Runs a command in the background (so the writers keep writing), returning its exit code and output. */
async function runAside(command: string[], env: Record<string, string> = {}, cwd?: string) {
  const child = Bun.spawn(command, {
    env: { PATH: process.env.PATH ?? "", ...env },
    cwd,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { exitCode, stdout, stderr };
}

describe("backup and restore", () => {
  test("regression: there was no backup command; one taken under write load holds every acknowledged key", async () => {
    const db = built.freshDatabasePath();
    const backup = built.freshDatabasePath();
    const rootKey = generateSecret(ROOT_KEY_PREFIX);
    const env = { LATCHKEY_ROOT_KEY: rootKey };
    const server = await startBinary(built.path, { args: ["--db", db, ...SERVE_FLAGS], env });
    const written = keepWriting(server.url, rootKey);
    await untilWritten(written, 40);
    const before = written.keys.map((key) => ({ ...key }));
    const result = await runAside([built.path, "backup", "--db", db, "--to", backup]);
    const countAtEnd = written.keys.length;
    await untilWritten(written, countAtEnd + 8);
    await written.stop();
    const after = written.keys.slice(countAtEnd);
    console.log(`backed up with ${before.length} keys acknowledged before, ${countAtEnd - before.length} during`);
    expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({ exitCode: 0, stderr: "" });
    expect(result.stdout).toMatch(
      /^backed up .+ to .+: \d+ bytes, \d+ API keys, 1 signing keys \(1 stored in the clear/,
    );
    expect((statSync(backup).mode & 0o777).toString(8)).toBe("600");
    expect(existsSync(`${backup}-wal`)).toBe(false);

    // The copy serves as it is.
    const copy = await startBinary(built.path, { args: ["--db", backup, ...SERVE_FLAGS], env });
    await expectHolds(copy, before, after);
    expect((await callJson(copy.url, "GET", "/readyz")).status).toBe(200);
    await copy.stop();

    // Restored in place of the original: what was written after the backup is gone, the replaced file kept aside.
    const inUse = runBinary(built.path, ["restore", "--from", backup, "--db", db]);
    expect({ exitCode: inUse.exitCode, stderr: inUse.stderr }).toEqual({
      exitCode: 1,
      stderr: `latchkey: ${db} is in use: stop every latchkey serving it, then restore\n`,
    });
    await server.stop();
    const restored = runBinary(built.path, ["restore", "--from", backup, "--db", db]);
    expect(restored.exitCode).toBe(0);
    expect(restored.stdout).toContain(`restored ${backup} to ${db}`);
    const aside = readdirSync(join(db, "..")).filter((name) =>
      name.startsWith(`${db.split("/").at(-1)}.before-restore-`),
    );
    expect(aside.length).toBe(1);
    const again = await startBinary(built.path, { args: ["--db", db, ...SERVE_FLAGS], env });
    await expectHolds(again, before, after);
    await again.stop();
    const output = [result, inUse, restored].map((run) => run.stdout + run.stderr).join("");
    for (const key of written.keys) expect(output).not.toContain(key.secret);
    expect(output).not.toContain(rootKey);
  }, 60_000);

  test("a backup never overwrites a file, and refuses what is not a latchkey database", () => {
    const db = built.freshDatabasePath();
    expect(runBinary(built.path, ["migrate", "--db", db]).exitCode).toBe(0);
    const taken = built.freshDatabasePath();
    writeFileSync(taken, "keep me");
    const over = runBinary(built.path, ["backup", "--db", db, "--to", taken]);
    expect({ exitCode: over.exitCode, stderr: over.stderr }).toEqual({
      exitCode: 1,
      stderr: `latchkey: ${taken} already exists; back up to a new file\n`,
    });
    expect(Bun.file(taken).size).toBe(7);
    const missing = runBinary(built.path, [
      "backup",
      "--db",
      "/nonexistent/latchkey.db",
      "--to",
      built.freshDatabasePath(),
    ]);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain("no SQLite database at /nonexistent/latchkey.db");
    expect(runBinary(built.path, ["backup", "--db", db]).stderr).toContain("backup needs --to FILE");
    const notOurs = runBinary(built.path, ["restore", "--from", taken, "--db", built.freshDatabasePath()]);
    expect(notOurs.exitCode).toBe(1);
    expect(notOurs.stderr).toContain("is not a latchkey database");
    const postgres = runBinary(built.path, ["backup", "--to", "x", "--database-url", "postgres://u:secret@db/x"]);
    expect(postgres.exitCode).toBe(2);
    expect(postgres.stderr).toContain("pg_dump");
    expect(postgres.stderr).not.toContain("secret");
  });

  const server = testPostgresUrl();
  const created: string[] = [];
  afterAll(async () => {
    if (server === undefined) return;
    for (const name of created)
      await withAdmin(server, (admin) => admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
  });

  test.skipIf(server === undefined)(
    "PostgreSQL: the documented pg_dump under write load, restored with the documented pg_restore (PostgreSQL pass)",
    async () => {
      const commands = operations.split("\n").filter((line) => /^(pg_dump|pg_restore) /.test(line));
      expect(commands.length).toBe(2);
      const urlOf = async (label: string) => {
        const name = `lk_${label}_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
        await withAdmin(server!, (admin) => admin.query(`CREATE DATABASE "${name}"`));
        created.push(name);
        const url = new URL(server!);
        url.pathname = `/${name}`;
        return url.toString();
      };
      const source = await urlOf("backup");
      const target = await urlOf("restore");
      const folder = makeTempDir("pg-backup");
      const rootKey = generateSecret(ROOT_KEY_PREFIX);
      const env = { LATCHKEY_ROOT_KEY: rootKey };
      const node = await startBinary(built.path, { args: ["--database-url", source, ...SERVE_FLAGS], env });
      const written = keepWriting(node.url, rootKey);
      await untilWritten(written, 40);
      const before = written.keys.map((key) => ({ ...key }));
      const shell = { DATABASE_URL: source, NEW_DATABASE_URL: target };
      const dump = await runAside(["sh", "-c", commands[0]!], shell, folder.path);
      const countAtEnd = written.keys.length;
      await untilWritten(written, countAtEnd + 8);
      await written.stop();
      await node.stop();
      expect({ command: commands[0], ...dump, stdout: "" }).toEqual({
        command: commands[0],
        exitCode: 0,
        stdout: "",
        stderr: "",
      });
      const restore = await runAside(["sh", "-c", commands[1]!], shell, folder.path);
      expect({ command: commands[1], exitCode: restore.exitCode, stderr: restore.stderr }).toEqual({
        command: commands[1],
        exitCode: 0,
        stderr: "",
      });
      const restored = await startBinary(built.path, { args: ["--database-url", target, ...SERVE_FLAGS], env });
      await expectHolds(restored, before, written.keys.slice(countAtEnd));
      expect((await callJson(restored.url, "GET", "/readyz")).status).toBe(200);
      await restored.stop();
      folder.remove();
    },
    60_000,
  );
});
