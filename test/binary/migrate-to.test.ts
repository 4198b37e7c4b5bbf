/**
 * `latchkey migrate-to`: a team that started on the SQLite file moves to PostgreSQL and keeps everything: keys (and
 * which are revoked), tenants and projects, the root key, the signing keys (tokens minted before still verify) and
 * the audit trail. Runs in the PostgreSQL pass; the usage errors run on both.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { generateSecret, ROOT_KEY_PREFIX } from "../../src/domain/keys/secret.ts";
import { callJson, runBinary, startBinary, useBuiltBinary } from "../support/binary.ts";
import { dropPlace, freshPlace, placeUrl, testEngine } from "../support/engines.ts";

const built = useBuiltBinary("migrate-to");
const MASTER_KEY = "migrate-to test master key, 32 characters or more";

describe("latchkey migrate-to", () => {
  test("refuses to run without a target, or without a source file", () => {
    const noTarget = runBinary(built.path, ["migrate-to", "--from", built.freshDatabasePath()]);
    expect(noTarget.exitCode).toBe(2);
    expect(noTarget.stderr).toContain("migrate-to needs --database-url");
    const noSource = runBinary(built.path, [
      "migrate-to",
      "--from",
      "/nonexistent/latchkey.db",
      "--database-url",
      "postgres://nobody@127.0.0.1:1/none",
    ]);
    expect(noSource.exitCode).toBe(2);
    expect(noSource.stderr).toContain("no SQLite database at /nonexistent/latchkey.db");
  });

  const place = testEngine() === "postgres" ? freshPlace() : undefined;
  afterAll(() => (place ? dropPlace(place) : undefined));

  test.skipIf(place === undefined)(
    "copies everything into an empty PostgreSQL database, which then serves it (PostgreSQL pass only)",
    async () => {
      const target = placeUrl(place as Parameters<typeof placeUrl>[0]);
      const rootKey = generateSecret(ROOT_KEY_PREFIX);
      // The public URL is the tokens' issuer: it stays the same across the move, as in production.
      const env = {
        LATCHKEY_ROOT_KEY: rootKey,
        LATCHKEY_MASTER_KEY: MASTER_KEY,
        LATCHKEY_PUBLIC_URL: "https://auth.test",
      };
      const file = built.freshDatabasePath();

      const before = await startBinary(built.path, { args: ["--db", file], env });
      const tenant = await callJson(before.url, "POST", "/v1/tenants", { key: rootKey, body: { name: "acme" } });
      const project = await callJson(before.url, "POST", "/v1/projects", {
        key: rootKey,
        body: { tenant_id: tenant.body.id, name: "api" },
      });
      const kept = await callJson(before.url, "POST", "/v1/keys", {
        key: rootKey,
        body: { name: "kept", scopes: ["runs:read"], project_id: project.body.id },
      });
      const revoked = await callJson(before.url, "POST", "/v1/keys", {
        key: rootKey,
        body: { name: "revoked", scopes: ["runs:read"] },
      });
      await callJson(before.url, "DELETE", `/v1/keys/${revoked.body.id}`, { key: rootKey });
      const token = await callJson(before.url, "POST", "/v1/sessions", {
        key: kept.body.secret,
        body: { user_id: "u1" },
      });
      expect(token.status).toBe(200);
      await before.stop();

      const copied = runBinary(built.path, ["migrate-to", "--from", file, "--database-url", target], env);
      expect(copied.stderr).toBe("");
      expect(copied.exitCode).toBe(0);
      expect(copied.stdout).toMatch(
        /^copied .* 2 tenants, 2 projects, 3 apiKeys, 3 keySecrets, 1 signingKeys, \d+ auditEvents/,
      );

      const after = await startBinary(built.path, { args: ["--database-url", target], env });
      try {
        expect(after.stdout()).not.toContain("lk_root_"); // the copied root key, not a new one
        const verify = async (body: unknown) => (await callJson(after.url, "POST", "/v1/keys/verify", { body })).body;
        expect((await verify({ key: kept.body.secret })).code).toBe("VALID");
        expect((await verify({ key: revoked.body.secret })).code).toBe("API_KEY_REVOKED");
        expect((await verify({ token: token.body.token })).code).toBe("VALID");
        const tenants = await callJson(after.url, "GET", "/v1/tenants", { key: rootKey });
        expect(tenants.body.data.map((row: { name: string }) => row.name).sort()).toEqual(["acme", "default"]);
        const audit = await callJson(after.url, "GET", "/v1/audit?action=key.revoked", { key: rootKey });
        expect(audit.body.data.map((event: { target: { id: string } }) => event.target.id)).toEqual([revoked.body.id]);
      } finally {
        await after.stop();
      }

      const again = runBinary(built.path, ["migrate-to", "--from", file, "--database-url", target], env);
      expect(again.exitCode).toBe(1);
      expect(again.stderr).toContain("already holds latchkey data");
    },
    60_000,
  );
});
