/**
 * `latchkey master-key rotate` on the compiled binary, as docs/operations.md tells an operator to run it: the new key
 * from LATCHKEY_NEW_MASTER_KEY or standard input, the signing keys sealed again in one transaction, a restart with
 * the new key, and the old key refused from then on.
 */
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { generateSecret, ROOT_KEY_PREFIX } from "../../src/domain/keys/secret.ts";
import { callJson, runBinary, startBinary, useBuiltBinary } from "../support/binary.ts";

const built = useBuiltBinary("master-key");
const OLD = "the old master key, thirty-two characters or more";
const NEW = "the new master key, thirty-two characters or more";
const THIRD = "a third master key, thirty-two characters or more";
/** The tokens' issuer stays the same across restarts on different ports, as in production. */
const PUBLIC_URL = "https://auth.test";

function rotate(db: string, env: Record<string, string>, stdin?: string) {
  const result = Bun.spawnSync(
    [built.path, "master-key", "rotate", "--db", db, ...(stdin ? ["--new-key-stdin"] : [])],
    {
      env: { PATH: process.env.PATH ?? "", ...env },
      stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin),
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  return { exitCode: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

function privateKeys(db: string): string[] {
  const sqlite = new Database(db, { readonly: true });
  const rows = sqlite.query("SELECT private_key FROM signing_keys ORDER BY kid").all() as { private_key: string }[];
  sqlite.close();
  return rows.map((row) => row.private_key);
}

describe("latchkey master-key rotate", () => {
  test("regression: the master key could not be changed; rotate re-seals, new key serves, old is refused", async () => {
    const db = built.freshDatabasePath();
    const rootKey = generateSecret(ROOT_KEY_PREFIX);
    const base = { LATCHKEY_ROOT_KEY: rootKey, LATCHKEY_PUBLIC_URL: PUBLIC_URL };
    const first = await startBinary(built.path, { args: ["--db", db], env: { ...base, LATCHKEY_MASTER_KEY: OLD } });
    const key = await callJson(first.url, "POST", "/v1/keys", {
      key: rootKey,
      body: { name: "api", scopes: ["runs:read"] },
    });
    const minted = await callJson(first.url, "POST", "/v1/sessions", { key: key.body.secret, body: { user_id: "u1" } });
    expect(minted.status).toBe(200);
    // Rotated while the server runs: it keeps signing with the keys it opened at start.
    const sealedBefore = privateKeys(db);
    const rotated = rotate(db, { LATCHKEY_MASTER_KEY: OLD, LATCHKEY_NEW_MASTER_KEY: NEW });
    expect({ exitCode: rotated.exitCode, stderr: rotated.stderr }).toEqual({ exitCode: 0, stderr: "" });
    expect(rotated.stdout).toContain("sealed 1 signing keys under the new master key; restart every latchkey");
    expect(
      privateKeys(db).every((stored, index) => stored.startsWith("enc:v1:") && stored !== sealedBefore[index]),
    ).toBe(true);
    expect(
      (await callJson(first.url, "POST", "/v1/sessions", { key: key.body.secret, body: { user_id: "u2" } })).status,
    ).toBe(200);
    // …but it may not seal a new signing key under the old master key: nobody could open it after the restart.
    const stale = await callJson(first.url, "POST", "/v1/signing-keys/rotate", { key: rootKey, body: {} });
    expect(stale.status).toBe(500);
    expect(privateKeys(db).length).toBe(1);
    await first.stop();
    expect(first.stderr()).toContain("sealed again under another LATCHKEY_MASTER_KEY since this process started");

    const renewed = await startBinary(built.path, { args: ["--db", db], env: { ...base, LATCHKEY_MASTER_KEY: NEW } });
    const verified = await callJson(renewed.url, "POST", "/v1/keys/verify", { body: { token: minted.body.token } });
    expect({ valid: verified.body.valid, code: verified.body.code }).toEqual({ valid: true, code: "VALID" });
    expect(
      (await callJson(renewed.url, "POST", "/v1/sessions", { key: key.body.secret, body: { user_id: "u3" } })).status,
    ).toBe(200);
    await renewed.stop();

    const withOld = runBinary(built.path, ["serve", "--port", "0", "--db", db], { ...base, LATCHKEY_MASTER_KEY: OLD });
    expect({ exitCode: withOld.exitCode, stdout: withOld.stdout }).toEqual({ exitCode: 2, stdout: "" });
    expect(withOld.stderr).toBe(
      "latchkey: LATCHKEY_MASTER_KEY does not open the stored signing keys: another key sealed them " +
        "(after `latchkey master-key rotate`, use the new one)\n",
    );

    // Again, the new key from standard input this time.
    const fromStdin = rotate(db, { LATCHKEY_MASTER_KEY: NEW }, `${THIRD}\n`);
    expect(fromStdin.exitCode).toBe(0);
    const third = await startBinary(built.path, { args: ["--db", db], env: { ...base, LATCHKEY_MASTER_KEY: THIRD } });
    await third.stop();
    const outputs =
      [rotated, withOld, fromStdin].map((run) => run.stdout + run.stderr).join("") + third.stdout() + third.stderr();
    for (const secret of [OLD, NEW, THIRD, rootKey]) expect(outputs).not.toContain(secret);
  }, 60_000);

  test("a missing, short, repeated or doubly given new key, or a wrong current key: exit 2, no change", async () => {
    const db = built.freshDatabasePath();
    const server = await startBinary(built.path, { args: ["--db", db], env: { LATCHKEY_MASTER_KEY: OLD } });
    await server.stop();
    const before = privateKeys(db);
    const cases: [Record<string, string>, string | undefined, string][] = [
      [{ LATCHKEY_MASTER_KEY: OLD }, undefined, "the new master key is missing"],
      [{ LATCHKEY_MASTER_KEY: OLD, LATCHKEY_NEW_MASTER_KEY: "short" }, undefined, "must be at least 32 characters"],
      [{ LATCHKEY_MASTER_KEY: OLD }, "\n", "the new master key is missing"],
      [{ LATCHKEY_MASTER_KEY: OLD, LATCHKEY_NEW_MASTER_KEY: OLD }, undefined, "is the current one"],
      [{ LATCHKEY_MASTER_KEY: OLD, LATCHKEY_NEW_MASTER_KEY: NEW }, NEW, "give the new master key once"],
      [
        { LATCHKEY_MASTER_KEY: THIRD, LATCHKEY_NEW_MASTER_KEY: NEW },
        undefined,
        "does not open the stored signing keys",
      ],
      [{ LATCHKEY_NEW_MASTER_KEY: NEW }, undefined, "LATCHKEY_MASTER_KEY is not set, but the signing keys"],
    ];
    for (const [env, stdin, message] of cases) {
      const refused = rotate(db, env, stdin);
      expect({ exitCode: refused.exitCode, message: refused.stderr.includes(message) }).toEqual({
        exitCode: 2,
        message: true,
      });
      for (const secret of [OLD, NEW, THIRD]) expect(refused.stderr).not.toContain(secret);
    }
    expect(privateKeys(db)).toEqual(before);
    const noDatabase = rotate(built.freshDatabasePath(), { LATCHKEY_NEW_MASTER_KEY: NEW });
    expect(noDatabase.exitCode).toBe(2);
    expect(noDatabase.stderr).toContain("no SQLite database at");
  }, 30_000);

  test("keys never sealed are sealed by a rotation without a current key; a start without one is refused", async () => {
    const db = built.freshDatabasePath();
    const server = await startBinary(built.path, { args: ["--db", db] });
    await server.stop();
    expect(privateKeys(db).some((stored) => stored.startsWith("enc:"))).toBe(false);
    expect(rotate(db, { LATCHKEY_NEW_MASTER_KEY: NEW }).exitCode).toBe(0);
    expect(privateKeys(db).every((stored) => stored.startsWith("enc:v1:"))).toBe(true);
    const without = runBinary(built.path, ["serve", "--port", "0", "--db", db]);
    expect(without.exitCode).toBe(2);
    const sealed = await startBinary(built.path, { args: ["--db", db], env: { LATCHKEY_MASTER_KEY: NEW } });
    await sealed.stop();
  }, 30_000);
});
