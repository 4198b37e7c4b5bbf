/**
 * How long a revocation takes to reach the other processes or nodes sharing the database, under load.
 *
 *   bun run bench:revocation [--keys 100] [--workers 10] [--nodes 2]
 *   bun run bench:revocation -- --nodes 3 --database-url postgres://… --redis-url redis://…
 *
 * N latchkey processes share one SQLite file, or (with --database-url) one PostgreSQL database, in a schema of their
 * own that is dropped afterwards. Every key is first verified on every node (so all caches are warm), then revoked on
 * one node (each in turn) while the next one serves a steady verification load; the figure for each key and each
 * other node is the time from the revocation's acknowledgement until that node first answers API_KEY_REVOKED.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import { generateSecret, ROOT_KEY_PREFIX } from "../src/domain/keys/secret.ts";
import { buildBinary, callJson, makeTempDir, startBinary } from "../test/support/run-binary.ts";
import { LOAD_GENERATOR, runLoad } from "./bench/load.ts";
import { positiveNumberFlag } from "./lib/args.ts";

const { values: options } = parseArgs({
  options: {
    keys: { type: "string", default: "100" },
    workers: { type: "string", default: "10" },
    nodes: { type: "string", default: "2" },
    "database-url": { type: "string" },
    "redis-url": { type: "string" },
  },
});
const keyCount = positiveNumberFlag("keys", options.keys);
const workers = positiveNumberFlag("workers", options.workers);
const nodeCount = Math.max(2, positiveNumberFlag("nodes", options.nodes));

const workspace = makeTempDir("bench-revocation");
const binary = buildBinary(join(new URL("..", import.meta.url).pathname, "dist", "latchkey"));
const rootKey = generateSecret(ROOT_KEY_PREFIX);
const schema = `latchkey_bench_${crypto.randomUUID().slice(0, 8)}`;
const databaseUrl = options["database-url"] ? withSearchPath(options["database-url"], schema) : undefined;
const storageArgs = databaseUrl
  ? ["--database-url", databaseUrl, ...(options["redis-url"] ? ["--redis-url", options["redis-url"]] : [])]
  : ["--db", join(workspace.path, "shared.db")];
const env = { LATCHKEY_ROOT_KEY: rootKey, LATCHKEY_AUTH_FAILURES_PER_MINUTE: "1000000" };

const nodes = await Promise.all(
  Array.from({ length: nodeCount }, () =>
    startBinary(binary, { args: storageArgs, env, readyTimeoutMilliseconds: 30_000 }),
  ),
);
const writer = nodes[0]!;
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
    for (const node of nodes) {
      const answer = await callJson(node.url, "POST", "/v1/keys/verify", { body: { key: key.secret } });
      if (answer.body.code !== "VALID") throw new Error(`key not valid before the revocation: ${answer.body.code}`);
    }
  }

  const load = runLoad({
    url: `${nodes[1]!.url}/v1/keys/verify`,
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
        const revoker = index % nodeCount;
        await Bun.sleep(Math.random() * 200);
        const revoked = await callJson(nodes[revoker]!.url, "DELETE", `/v1/keys/${key.id}`, { key: rootKey });
        if (revoked.status !== 200) throw new Error(`revoke failed: ${revoked.status}`);
        const acknowledgedAt = performance.now();
        await Promise.all(
          nodes
            .filter((_, node) => node !== revoker)
            .map(async (node) => {
              for (;;) {
                const { body } = await callJson(node.url, "POST", "/v1/keys/verify", { body: { key: key.secret } });
                if (body.code === "API_KEY_REVOKED") break;
                if (body.code !== "VALID") throw new Error(`unexpected code ${body.code}`);
                if (performance.now() - acknowledgedAt > 10_000) throw new Error("revocation did not arrive in 10 s");
                await Bun.sleep(2);
              }
              delaysMs.push(performance.now() - acknowledgedAt);
            }),
        );
      }
    }),
  );
  const loadResult = await load;
  delaysMs.sort((left, right) => left - right);
  const at = (percent: number) =>
    delaysMs[Math.min(delaysMs.length - 1, Math.floor((percent / 100) * delaysMs.length))]!;
  const format = (ms: number) => `${ms.toFixed(0)} ms`;
  const engine = databaseUrl ? `PostgreSQL${options["redis-url"] ? " + Redis" : ""}` : "one SQLite file";
  // Pushed changes (PostgreSQL) are bounded by the sync bound; the SQLite file is read every 250 ms.
  const targetMs = databaseUrl ? 1000 : 1500;
  console.log(
    `\nlatchkey revocation bench (${engine}, ${nodeCount} nodes): ${keyCount} keys revoked, each on one node, ` +
      `${delaysMs.length} refusals observed on the others`,
  );
  console.log(
    `load on node 1 meanwhile: ${loadResult.requestsPerSecond.toFixed(0)} verifications/s (${LOAD_GENERATOR})`,
  );
  console.log("| min | p50 | p90 | p99 | max | target |");
  console.log("|---:|---:|---:|---:|---:|---|");
  console.log(
    `| ${format(delaysMs[0]!)} | ${format(at(50))} | ${format(at(90))} | ${format(at(99))} | ` +
      `${format(delaysMs.at(-1)!)} | ${delaysMs.at(-1)! <= targetMs ? "met" : "MISSED"}: every one ≤ ${targetMs} ms |`,
  );
} finally {
  await Promise.all(nodes.map((node) => node.stop()));
  workspace.remove();
  if (options["database-url"]) await dropSchema(options["database-url"], schema);
}

function withSearchPath(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set("search_path", name);
  return parsed.toString();
}

async function dropSchema(url: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
  await client.end();
}
