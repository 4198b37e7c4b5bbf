/**
 * How long a revocation takes to reach another process sharing the database, under load.
 *
 *   bun run bench:revocation [--keys 100] [--workers 10]
 *
 * Two latchkey processes share one file. Every key is first verified on the second process (so it is cached there),
 * then revoked on the first while the second serves a steady verification load; the figure for each key is the time
 * from the revocation's acknowledgement until the second process first answers API_KEY_REVOKED for it.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { generateSecret, ROOT_KEY_PREFIX } from "../src/keys/secret.ts";
import { LOAD_GENERATOR, runLoad } from "./bench/load.ts";
import { positiveNumberFlag } from "./lib/args.ts";
import { buildBinary, callJson, makeTempDir, startBinary } from "./lib/binary.ts";

const { values: options } = parseArgs({
  options: { keys: { type: "string", default: "100" }, workers: { type: "string", default: "10" } },
});
const keyCount = positiveNumberFlag("keys", options.keys);
const workers = positiveNumberFlag("workers", options.workers);

const workspace = makeTempDir("bench-revocation");
const binary = buildBinary(join(new URL("..", import.meta.url).pathname, "dist", "latchkey"));
const rootKey = generateSecret(ROOT_KEY_PREFIX);
const db = join(workspace.path, "shared.db");
const env = { LATCHKEY_ROOT_KEY: rootKey, LATCHKEY_AUTH_FAILURES_PER_MINUTE: "1000000" };

const writer = await startBinary(binary, { args: ["--db", db], env });
const reader = await startBinary(binary, { args: ["--db", db], env });
try {
  const projectId = (await callJson(writer.url, "GET", "/v1/keys", { key: rootKey })).body.data[0].project_id;
  await callJson(writer.url, "PATCH", `/v1/projects/${projectId}`, {
    key: rootKey,
    body: { ratelimit: { limit: 1_000_000, window_seconds: 1 } },
  });
  const create = async (name: string) =>
    (await callJson(writer.url, "POST", "/v1/keys", { key: rootKey, body: { name, scopes: ["runs:read"] } })).body as {
      id: string;
      secret: string;
    };
  const loadKey = await create("load");
  const keys = await Promise.all(Array.from({ length: keyCount }, (_, index) => create(`revoked-${index}`)));
  for (const key of keys) {
    const answer = await callJson(reader.url, "POST", "/v1/keys/verify", { body: { key: key.secret } });
    if (answer.body.code !== "VALID") throw new Error(`key not valid before the revocation: ${answer.body.code}`);
  }

  const load = runLoad({
    url: `${reader.url}/v1/keys/verify`,
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ key: loadKey.secret }),
    connections: 16,
    seconds: Math.max(5, Math.ceil(keyCount / workers) * 2),
  });

  const delaysMs: number[] = [];
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      for (let index = worker; index < keys.length; index += workers) {
        const key = keys[index]!;
        await Bun.sleep(Math.random() * 200);
        const revoked = await callJson(writer.url, "DELETE", `/v1/keys/${key.id}`, { key: rootKey });
        if (revoked.status !== 200) throw new Error(`revoke failed: ${revoked.status}`);
        const acknowledgedAt = performance.now();
        for (;;) {
          const { body } = await callJson(reader.url, "POST", "/v1/keys/verify", { body: { key: key.secret } });
          if (body.code === "API_KEY_REVOKED") break;
          if (body.code !== "VALID") throw new Error(`unexpected code ${body.code}`);
          if (performance.now() - acknowledgedAt > 10_000) throw new Error("revocation did not arrive within 10 s");
          await Bun.sleep(5);
        }
        delaysMs.push(performance.now() - acknowledgedAt);
      }
    }),
  );
  const loadResult = await load;
  delaysMs.sort((left, right) => left - right);
  const at = (percent: number) =>
    delaysMs[Math.min(delaysMs.length - 1, Math.floor((percent / 100) * delaysMs.length))]!;
  const format = (ms: number) => `${ms.toFixed(0)} ms`;
  console.log(`\nlatchkey revocation bench: ${keyCount} keys revoked on one process, refused on the other`);
  console.log(
    `load on the other process meanwhile: ${loadResult.requestsPerSecond.toFixed(0)} verifications/s ` +
      `(${LOAD_GENERATOR})`,
  );
  console.log("| min | p50 | p90 | p99 | max | target |");
  console.log("|---:|---:|---:|---:|---:|---|");
  console.log(
    `| ${format(delaysMs[0]!)} | ${format(at(50))} | ${format(at(90))} | ${format(at(99))} | ` +
      `${format(delaysMs.at(-1)!)} | ${delaysMs.at(-1)! < 1500 ? "met" : "MISSED"}: every one < 1.5 s |`,
  );
} finally {
  await Promise.all([writer.stop(), reader.stop()]);
  workspace.remove();
}
