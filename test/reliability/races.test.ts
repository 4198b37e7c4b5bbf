/**
 * Races against the real binary, many trials each with a start barrier: revoke-versus-use, rotate-versus-use and
 * parallel key creation always come out one consistent way. (Approve-versus-deny, in one process and across two,
 * is in test/cli-login/approval.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { generateSecret, ROOT_KEY_PREFIX } from "../../src/domain/keys/secret.ts";
import { callJson, type RunningBinary, startBinary, useBuiltBinary } from "../support/binary.ts";

const built = useBuiltBinary("races");
const rootKey = generateSecret(ROOT_KEY_PREFIX);
let server: RunningBinary;

beforeAll(async () => {
  server = await startBinary(built.path, {
    args: ["--db", built.freshDatabasePath()],
    env: { LATCHKEY_ROOT_KEY: rootKey, LATCHKEY_AUTH_FAILURES_PER_MINUTE: "1000000" },
  });
  const projectId = (await callJson(server.url, "GET", "/v1/keys", { key: rootKey })).body.data[0].project_id;
  await callJson(server.url, "PATCH", `/v1/projects/${projectId}`, {
    key: rootKey,
    body: { ratelimit: { limit: 1_000_000, window_seconds: 1 } },
  });
}, 60_000);

afterAll(() => server?.stop());

function barrier() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

async function createKey(name: string) {
  return (await callJson(server.url, "POST", "/v1/keys", { key: rootKey, body: { name, scopes: ["runs:read"] } }))
    .body as {
    id: string;
    secret: string;
  };
}

/** Verifies `secret` from `clients` loops until `until` resolves; each answer with the time its request was sent. */
async function useUntil(secret: string, start: Promise<void>, until: Promise<unknown>, clients = 8) {
  const answers: { sentAt: number; code: string }[] = [];
  let done = false;
  until.then(() => (done = true));
  await start;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (!done) {
        const sentAt = performance.now();
        const { body } = await callJson(server.url, "POST", "/v1/keys/verify", { body: { key: secret } });
        answers.push({ sentAt, code: body.code });
      }
      // A few more after the change was acknowledged: all must see it.
      for (let extra = 0; extra < 3; extra++) {
        const sentAt = performance.now();
        const { body } = await callJson(server.url, "POST", "/v1/keys/verify", { body: { key: secret } });
        answers.push({ sentAt, code: body.code });
      }
    }),
  );
  return answers;
}

describe("races", () => {
  test("revoke versus use: nothing sent after the revocation was acknowledged is admitted", async () => {
    for (let trial = 0; trial < 20; trial++) {
      const key = await createKey(`race ${trial}`);
      const gate = barrier();
      let acknowledgedAt = Number.POSITIVE_INFINITY;
      const revoke = gate.opened
        .then(() => Bun.sleep(Math.random() * 20))
        .then(() => callJson(server.url, "DELETE", `/v1/keys/${key.id}`, { key: rootKey }))
        .then((answer) => {
          acknowledgedAt = performance.now();
          return answer;
        });
      const using = useUntil(key.secret, gate.opened, revoke);
      gate.open();
      expect((await revoke).body.revoked).toBe(true);
      const answers = await using;
      const after = answers.filter((answer) => answer.sentAt > acknowledgedAt);
      expect(after.length).toBeGreaterThan(0);
      expect(after.every((answer) => answer.code === "API_KEY_REVOKED")).toBe(true);
      expect(answers.every((answer) => answer.code === "VALID" || answer.code === "API_KEY_REVOKED")).toBe(true);
    }
  }, 120_000);

  test("rotate versus use: the old secret is refused from the acknowledgement on, the new one works", async () => {
    for (let trial = 0; trial < 20; trial++) {
      const key = await createKey(`rotation race ${trial}`);
      const gate = barrier();
      let acknowledgedAt = Number.POSITIVE_INFINITY;
      const rotate = gate.opened
        .then(() => Bun.sleep(Math.random() * 20))
        .then(() =>
          callJson(server.url, "POST", `/v1/keys/${key.id}/rotate`, { key: rootKey, body: { grace_seconds: 0 } }),
        )
        .then((answer) => {
          acknowledgedAt = performance.now();
          return answer;
        });
      const using = useUntil(key.secret, gate.opened, rotate);
      gate.open();
      const rotated = await rotate;
      const answers = await using;
      expect(
        answers.filter((answer) => answer.sentAt > acknowledgedAt).every((answer) => answer.code === "API_KEY_REVOKED"),
      ).toBe(true);
      expect(
        (await callJson(server.url, "POST", "/v1/keys/verify", { body: { key: rotated.body.secret } })).body.code,
      ).toBe("VALID");
    }
  }, 120_000);

  test("parallel key creation: every creation succeeds once, with its own id and secret", async () => {
    for (let trial = 0; trial < 10; trial++) {
      const gate = barrier();
      const creations = Array.from({ length: 40 }, (_, index) =>
        gate.opened.then(() => createKey(`parallel ${trial}/${index}`)),
      );
      gate.open();
      const keys = await Promise.all(creations);
      expect(new Set(keys.map((key) => key.id)).size).toBe(40);
      expect(new Set(keys.map((key) => key.secret)).size).toBe(40);
      const verified = await Promise.all(
        keys.map((key) => callJson(server.url, "POST", "/v1/keys/verify", { body: { key: key.secret } })),
      );
      expect(verified.every((answer) => answer.body.code === "VALID")).toBe(true);
    }
  }, 120_000);
});
