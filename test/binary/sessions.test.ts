/**
 * Session tokens against the real binary and a real clock: verified from a separate process with only jose and
 * the JWKS URL, across a signing-key rotation; rotation from the command line; sealed private keys.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { generateSecret, ROOT_KEY_PREFIX } from "../../src/domain/keys/secret.ts";
import { callJson, runBinary, startBinary, useBuiltBinary } from "../support/binary.ts";

const built = useBuiltBinary("sessions");
const freshDatabasePath = built.freshDatabasePath;

/** A verifier process fed one token at a time. */
function startVerifier(jwksUrl: string, issuer: string, audience: string, cooldownMilliseconds: number) {
  const child = Bun.spawn(
    [
      process.execPath,
      join(import.meta.dir, "../support/jwks-verifier.ts"),
      jwksUrl,
      issuer,
      audience,
      String(cooldownMilliseconds),
    ],
    { stdin: "pipe", stdout: "pipe", stderr: "inherit" },
  );
  const reader = child.stdout.getReader();
  let buffered = "";
  return {
    async verify(token: string): Promise<{ ok: boolean; sub?: string; kid?: string; code?: string }> {
      child.stdin.write(`${token}\n`);
      child.stdin.flush();
      while (!buffered.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) throw new Error("verifier exited");
        buffered += new TextDecoder().decode(value);
      }
      const line = buffered.slice(0, buffered.indexOf("\n"));
      buffered = buffered.slice(buffered.indexOf("\n") + 1);
      return JSON.parse(line);
    },
    stop() {
      child.kill();
    },
  };
}

describe("session tokens from the binary", () => {
  test("a separate process verifies them with only jose and the JWKS URL, before and after a rotation", async () => {
    const rootKey = generateSecret(ROOT_KEY_PREFIX);
    const server = await startBinary(built.path, {
      args: ["--db", freshDatabasePath()],
      env: { LATCHKEY_ROOT_KEY: rootKey },
    });
    const publicUrl = new URL(server.url).origin.replace("127.0.0.1", "localhost");
    const key = await callJson(server.url, "POST", "/v1/keys", {
      key: rootKey,
      body: { name: "api", scopes: ["runs:read"] },
    });
    const mint = async (user: string) =>
      (await callJson(server.url, "POST", "/v1/sessions", { key: key.body.secret, body: { user_id: user } })).body
        .token as string;
    // The same relation as production defaults (a 60 s lead against jose's 30 s refetch cooldown), scaled down.
    const verifier = startVerifier(`${server.url}/.well-known/jwks.json`, publicUrl, key.body.project_id, 1000);
    try {
      const before = await mint("before");
      const first = await verifier.verify(before);
      expect(first).toMatchObject({ ok: true, sub: "before" });

      const rotation = await callJson(server.url, "POST", "/v1/signing-keys/rotate", {
        key: rootKey,
        body: { activate_in_seconds: 2 },
      });
      expect(rotation.body.status).toBe("pending");
      const duringLead = await mint("during");
      expect(await verifier.verify(duringLead)).toEqual({ ok: true, sub: "during", kid: first.kid });

      await Bun.sleep(2200);
      const after = await mint("after");
      expect(await verifier.verify(after)).toEqual({ ok: true, sub: "after", kid: rotation.body.kid });
      expect(await verifier.verify(before)).toMatchObject({ ok: true, sub: "before" });

      const [header, payload, signature] = after.split(".");
      const forged = Buffer.from(payload!, "base64url").toString().replace('"after"', '"admin"');
      expect((await verifier.verify(`${header}.${Buffer.from(forged).toString("base64url")}.${signature}`)).ok).toBe(
        false,
      );
    } finally {
      verifier.stop();
      await server.stop();
    }
  }, 30_000);

  test("`latchkey signing-keys rotate` beside a running server: it publishes the new key within seconds", async () => {
    const db = freshDatabasePath();
    const server = await startBinary(built.path, { args: ["--db", db] });
    try {
      const before = (await callJson(server.url, "GET", "/.well-known/jwks.json")).body.keys.map(
        (k: { kid: string }) => k.kid,
      );
      const cli = runBinary(built.path, ["signing-keys", "rotate", "--db", db, "--activate-in-seconds", "0"]);
      expect(cli.exitCode).toBe(0);
      const newKid = /rotated: (sig_[0-9A-Za-z]{22})/.exec(cli.stdout)![1];
      const deadline = Date.now() + 8000;
      let published: string[] = before;
      while (!published.includes(newKid!) && Date.now() < deadline) {
        await Bun.sleep(250);
        published = (await callJson(server.url, "GET", "/.well-known/jwks.json")).body.keys.map(
          (k: { kid: string }) => k.kid,
        );
      }
      expect(published).toEqual([...before, newKid]);
    } finally {
      await server.stop();
    }
  }, 20_000);

  test("regression: a sealed database without its master key warned 'stored unsealed', then exited 1", async () => {
    const db = freshDatabasePath();
    const masterKey = "0123456789abcdef0123456789abcdef-master";
    const first = await startBinary(built.path, { args: ["--db", db], env: { LATCHKEY_MASTER_KEY: masterKey } });
    await first.stop();
    // Sealing is said once, by the start that sealed.
    expect(first.stdout().match(/signing keys sealed with LATCHKEY_MASTER_KEY/g)?.length).toBe(1);
    const without = runBinary(built.path, ["serve", "--port", "0", "--db", db]);
    // One configuration error, and nothing before it.
    expect({ exitCode: without.exitCode, stdout: without.stdout }).toEqual({ exitCode: 2, stdout: "" });
    expect(without.stderr).toBe(
      "latchkey: LATCHKEY_MASTER_KEY is not set, but the signing keys in this database are sealed: " +
        "set it to the key that sealed them\n",
    );
    const wrong = runBinary(built.path, ["serve", "--port", "0", "--db", db], { LATCHKEY_MASTER_KEY: "x".repeat(40) });
    expect({ exitCode: wrong.exitCode, stdout: wrong.stdout }).toEqual({ exitCode: 2, stdout: "" });
    expect(wrong.stderr.trim().split("\n")).toEqual([expect.stringContaining("LATCHKEY_MASTER_KEY does not open")]);
    expect(wrong.stderr + without.stderr).not.toContain(masterKey);
    const again = await startBinary(built.path, { args: ["--db", db], env: { LATCHKEY_MASTER_KEY: masterKey } });
    await again.stop();
    expect(again.stdout() + again.stderr()).not.toContain("sealed");
    const tooShort = runBinary(built.path, ["serve", "--db", db], { LATCHKEY_MASTER_KEY: "short" });
    expect(tooShort.exitCode).toBe(2);
    expect(tooShort.stderr).toContain("LATCHKEY_MASTER_KEY");
  }, 20_000);
});
