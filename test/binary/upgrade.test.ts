/**
 * A rolling upgrade, for real: the previous release's binary, built from its commit, and this one, serving one
 * database at once (a SQLite file, or on the PostgreSQL pass a PostgreSQL schema), as two nodes do halfway through an
 * upgrade; then a rollback to the previous release alone. docs/operations.md (Upgrades) says what this proves.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS } from "../../src/db/migrate.ts";
import { generateSecret, ROOT_KEY_PREFIX } from "../../src/domain/keys/secret.ts";
import { callJson, makeTempDir, type RunningBinary, startBinary, useBuiltBinary } from "../support/binary.ts";
import { dropPlace, freshPlace, placeUrl, testEngine, testRedisUrl } from "../support/engines.ts";
import { buildBinary } from "../support/run-binary.ts";

/** The release before this one: the commit this round of work started from. Move it forward with each release. */
const PREVIOUS_RELEASE = "8be2c1a";
const ROOT = new URL("../..", import.meta.url).pathname;

const built = useBuiltBinary("upgrade");
let previous: { binary: string; migrations: string[]; remove(): void } | undefined;

/** The previous release from git: its tree, this checkout's dependencies (when they are the same), its own build. */
function buildPreviousRelease(): NonNullable<typeof previous> {
  const git = (args: string[]) => Bun.spawnSync(["git", "-C", ROOT, ...args], { stdout: "pipe", stderr: "pipe" });
  if (git(["cat-file", "-e", `${PREVIOUS_RELEASE}^{commit}`]).exitCode !== 0) {
    throw new Error(
      `the previous release (commit ${PREVIOUS_RELEASE}) is not in this checkout's history; ` +
        "fetch it (git fetch --unshallow)",
    );
  }
  const folder = makeTempDir("previous-release");
  const source = join(folder.path, "source");
  mkdirSync(source);
  const extracted = Bun.spawnSync(["sh", "-c", `git -C '${ROOT}' archive ${PREVIOUS_RELEASE} | tar -x -C '${source}'`]);
  if (extracted.exitCode !== 0) throw new Error(`git archive ${PREVIOUS_RELEASE} failed`);
  const dependencies = (root: string) =>
    JSON.stringify(JSON.parse(git(["show", `${root}:package.json`]).stdout.toString()).dependencies);
  if (
    dependencies(PREVIOUS_RELEASE) ===
    JSON.stringify((require(join(ROOT, "package.json")) as { dependencies: unknown }).dependencies)
  ) {
    symlinkSync(join(ROOT, "node_modules"), join(source, "node_modules"));
  } else {
    const install = Bun.spawnSync([process.execPath, "install", "--frozen-lockfile", "--ignore-scripts"], {
      cwd: source,
    });
    if (install.exitCode !== 0) throw new Error(`installing the previous release's dependencies failed`);
  }
  const binary = buildBinary(join(folder.path, "latchkey-previous"), source);
  const dialect = testEngine() === "postgres" ? "pg" : "sqlite";
  const journal = JSON.parse(
    git(["show", `${PREVIOUS_RELEASE}:drizzle/${dialect}/meta/_journal.json`]).stdout.toString(),
  );
  return { binary, migrations: journal.entries.map((entry: { tag: string }) => entry.tag), remove: folder.remove };
}

beforeAll(() => {
  previous = buildPreviousRelease();
}, 180_000);
afterAll(() => previous?.remove());

async function codeOf(server: RunningBinary, secret: string): Promise<string> {
  return (await callJson(server.url, "POST", "/v1/keys/verify", { body: { key: secret } })).body.code;
}

/** Waits (up to 5 s: the change log is read every 250 ms) until `server` answers `code` for `secret`. */
async function untilCode(server: RunningBinary, secret: string, code: string): Promise<string> {
  let seen = "";
  for (let attempt = 0; attempt < 500 && seen !== code; attempt++) {
    seen = await codeOf(server, secret);
    if (seen !== code) await Bun.sleep(10);
  }
  return seen;
}

describe("the previous release beside this one", () => {
  test("halfway through a rolling upgrade both versions serve one database; rolling back works", async () => {
    const current = (testEngine() === "postgres" ? POSTGRES_MIGRATIONS : SQLITE_MIGRATIONS).map((m) => m.tag);
    // This release adds migrations the previous one does not know: the previous one refuses them (it predates the
    // side-by-side rule), which is what docs/operations.md tells an operator upgrading from it.
    const schemaChanged = current.join() !== previous!.migrations.join();
    const place = freshPlace(built.freshDatabasePath());
    const redisUrl = testRedisUrl();
    const where = [
      ...(place.engine === "sqlite" ? ["--db", place.path] : ["--database-url", placeUrl(place)]),
      // On the PostgreSQL pass both versions share buckets through one Redis, as nodes do.
      ...(redisUrl === undefined
        ? []
        : ["--redis-url", redisUrl, "--redis-key-prefix", `latchkey_upgrade_${crypto.randomUUID().slice(0, 8)}`]),
    ];
    const rootKey = generateSecret(ROOT_KEY_PREFIX);
    const env = { LATCHKEY_ROOT_KEY: rootKey, LATCHKEY_PUBLIC_URL: "https://auth.test" };
    const running: RunningBinary[] = [];
    try {
      // Every node on the previous release; then the first node is upgraded (it migrates the database).
      const old = await startBinary(previous!.binary, { args: where, env });
      running.push(old);
      const madeByOld = await callJson(old.url, "POST", "/v1/keys", {
        key: rootKey,
        body: { name: "old", scopes: ["runs:read"] },
      });
      const upgraded = await startBinary(built.path, { args: where, env });
      running.push(upgraded);
      const madeByNew = await callJson(upgraded.url, "POST", "/v1/keys", {
        key: rootKey,
        body: { name: "new", scopes: ["runs:read"] },
      });
      expect([madeByOld.status, madeByNew.status]).toEqual([200, 200]);

      // Both serve every key, and a revocation through either is refused by the other.
      for (const server of [old, upgraded]) {
        expect(await codeOf(server, madeByOld.body.secret)).toBe("VALID");
        expect(await codeOf(server, madeByNew.body.secret)).toBe("VALID");
      }
      expect((await callJson(upgraded.url, "DELETE", `/v1/keys/${madeByOld.body.id}`, { key: rootKey })).status).toBe(
        200,
      );
      expect(await untilCode(old, madeByOld.body.secret, "API_KEY_REVOKED")).toBe("API_KEY_REVOKED");
      expect((await callJson(old.url, "DELETE", `/v1/keys/${madeByNew.body.id}`, { key: rootKey })).status).toBe(200);
      expect(await untilCode(upgraded, madeByNew.body.secret, "API_KEY_REVOKED")).toBe("API_KEY_REVOKED");
      const kept = await callJson(upgraded.url, "POST", "/v1/keys", {
        key: rootKey,
        body: { name: "kept", scopes: ["runs:read"] },
      });

      // One bucket across both versions, when they share Redis: a limit of 10 admits 10 of 12, whichever node answers.
      if (redisUrl !== undefined) {
        const limited = await callJson(upgraded.url, "POST", "/v1/keys", {
          key: rootKey,
          body: { name: "limited", scopes: ["runs:read"], ratelimit: { limit: 10, window_seconds: 3600 } },
        });
        const codes: string[] = [];
        for (let index = 0; index < 12; index++)
          codes.push(await codeOf(index % 2 === 0 ? old : upgraded, limited.body.secret));
        expect(codes.filter((code) => code === "VALID").length).toBe(10);
      }

      // What /readyz says meanwhile.
      expect((await callJson(upgraded.url, "GET", "/readyz")).status).toBe(200);
      const oldReadiness = await callJson(old.url, "GET", "/readyz");
      console.log(
        `previous release ${PREVIOUS_RELEASE} beside this one on ${place.engine}: ` +
          `schema ${schemaChanged ? "changed" : "unchanged"}, ` +
          `its /readyz ${oldReadiness.status}`,
      );
      expect(oldReadiness.status).toBe(schemaChanged ? 503 : 200);

      // Rollback: the upgraded node stops; the previous release starts again alone and serves what both wrote.
      await upgraded.stop();
      running.splice(running.indexOf(upgraded), 1);
      await old.stop();
      running.splice(running.indexOf(old), 1);
      if (schemaChanged) {
        const refused = Bun.spawnSync([previous!.binary, "serve", "--port", "0", ...where], {
          env: { ...env, PATH: "" },
        });
        expect(refused.exitCode).toBe(1);
        expect(refused.stderr.toString()).toContain("migrated by a newer latchkey");
        return;
      }
      const rolledBack = await startBinary(previous!.binary, { args: where, env });
      running.push(rolledBack);
      expect(await codeOf(rolledBack, kept.body.secret)).toBe("VALID");
      expect(await codeOf(rolledBack, madeByNew.body.secret)).toBe("API_KEY_REVOKED");
      expect((await callJson(rolledBack.url, "GET", "/readyz")).status).toBe(200);
    } finally {
      for (const server of running) await server.stop();
      await dropPlace(place);
    }
  }, 60_000);
});
