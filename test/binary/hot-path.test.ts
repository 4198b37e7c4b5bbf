/**
 * The hot path against real processes and a real clock: revocation across two processes sharing the file,
 * revocations surviving kill -9, and the bucket's bound under 64 concurrent clients.
 */
import { describe, expect, test } from "bun:test";
import { generateSecret, ROOT_KEY_PREFIX } from "../../src/domain/keys/secret.ts";
import { callJson, startBinary, useBuiltBinary } from "../support/binary.ts";

const built = useBuiltBinary("hot-path");

async function createKeys(url: string, rootKey: string, count: number, body: Record<string, unknown> = {}) {
  const keys: { id: string; secret: string }[] = [];
  for (let index = 0; index < count; index++) {
    const answer = await callJson(url, "POST", "/v1/keys", {
      key: rootKey,
      body: { name: `k${index}`, scopes: ["runs:read"], ...body },
    });
    keys.push({ id: answer.body.id, secret: answer.body.secret });
  }
  return keys;
}

describe("revocation", () => {
  test("reaches another process sharing the database within about a second", async () => {
    const db = built.freshDatabasePath();
    const rootKey = generateSecret(ROOT_KEY_PREFIX);
    const env = { LATCHKEY_ROOT_KEY: rootKey };
    const writer = await startBinary(built.path, { args: ["--db", db], env });
    const reader = await startBinary(built.path, { args: ["--db", db], env });
    try {
      const keys = await createKeys(writer.url, rootKey, 10);
      for (const key of keys) {
        expect((await callJson(reader.url, "POST", "/v1/keys/verify", { body: { key: key.secret } })).body.code).toBe(
          "VALID",
        );
      }
      const delays: number[] = [];
      for (const key of keys) {
        const revokedAt = performance.now();
        expect((await callJson(writer.url, "DELETE", `/v1/keys/${key.id}`, { key: rootKey })).status).toBe(200);
        for (;;) {
          const { body } = await callJson(reader.url, "POST", "/v1/keys/verify", { body: { key: key.secret } });
          if (body.code === "API_KEY_REVOKED") break;
          expect(body.code).toBe("VALID");
          if (performance.now() - revokedAt > 5000) throw new Error("revocation did not arrive within 5 s");
          await Bun.sleep(10);
        }
        delays.push(performance.now() - revokedAt);
      }
      expect(Math.max(...delays)).toBeLessThan(1500);
    } finally {
      await Promise.all([writer.stop(), reader.stop()]);
    }
  }, 30_000);

  test("an acknowledged revocation survives kill -9", async () => {
    const db = built.freshDatabasePath();
    const rootKey = generateSecret(ROOT_KEY_PREFIX);
    const env = { LATCHKEY_ROOT_KEY: rootKey };
    for (let cycle = 0; cycle < 5; cycle++) {
      const server = await startBinary(built.path, { args: ["--db", db], env });
      const [key] = await createKeys(server.url, rootKey, 1);
      expect((await callJson(server.url, "DELETE", `/v1/keys/${key!.id}`, { key: rootKey })).body.revoked).toBe(true);
      await server.kill9();
      const restarted = await startBinary(built.path, { args: ["--db", db], env });
      const answer = await callJson(restarted.url, "POST", "/v1/keys/verify", { body: { key: key!.secret } });
      expect(answer.body.code).toBe("API_KEY_REVOKED");
      await restarted.kill9();
    }
  }, 60_000);
});

describe("the bucket under load", () => {
  test("64 concurrent clients: never more than burst + rate × time, and at least 95% of it", async () => {
    const rootKey = generateSecret(ROOT_KEY_PREFIX);
    const server = await startBinary(built.path, {
      args: ["--db", built.freshDatabasePath()],
      env: { LATCHKEY_ROOT_KEY: rootKey },
    });
    try {
      const [key] = await createKeys(server.url, rootKey, 1, { ratelimit: { limit: 100, window_seconds: 10 } });
      const headers = { authorization: `Bearer ${key!.secret}` };
      const durationMs = 3000;
      const startedAt = performance.now();
      let admitted = 0;
      let refused = 0;
      let other = 0;
      await Promise.all(
        Array.from({ length: 64 }, async () => {
          while (performance.now() - startedAt < durationMs) {
            const response = await fetch(`${server.url}/v1/authz`, { headers });
            await response.arrayBuffer();
            if (response.status === 200) admitted++;
            else if (response.status === 429) refused++;
            else other++;
          }
        }),
      );
      const elapsedSeconds = (performance.now() - startedAt) / 1000;
      const bound = 100 + 10 * elapsedSeconds;
      expect(other).toBe(0);
      expect(refused).toBeGreaterThan(admitted);
      expect(admitted).toBeLessThanOrEqual(bound);
      expect(admitted).toBeGreaterThanOrEqual(0.95 * bound);
    } finally {
      await server.stop();
    }
  }, 30_000);
});
