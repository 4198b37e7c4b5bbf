/**
 * Throughput of `latchkey serve --workers N` on one port: a cached-key /v1/authz for each N asked, and how it compares
 * with N times one worker (the goal is ≥ 0.8 × N × one worker).
 *
 *   bun run bench:workers [--workers 1,2,4,8] [--seconds 5] [--connections 50]
 *
 * Latchkey runs pinned to cores 0..N−1 and wrk (one thread per spare core, at most N) to the cores left. A run whose
 * load generator has no core of its own is still measured, and marked: its figure says that the workers serve, not
 * how they scale. The key's bucket is exact across the workers (they lease from the primary), so every run also
 * proves that leasing keeps the common case local: a run with any non-2xx answer fails.
 */
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { generateSecret, ROOT_KEY_PREFIX } from "../src/domain/keys/secret.ts";
import { buildBinary, callJson, makeTempDir, type RunningBinary, startBinary } from "../test/support/run-binary.ts";
import { format, LOAD_GENERATOR, type LoadResult, onCore, runLoad } from "./bench/load.ts";
import { positiveNumberFlag } from "./lib/args.ts";

const { values: options } = parseArgs({
  options: {
    workers: { type: "string", default: "1,2,4,8" },
    seconds: { type: "string", default: "5" },
    connections: { type: "string", default: "50" },
  },
});
const seconds = positiveNumberFlag("seconds", options.seconds, { integer: false });
const connections = positiveNumberFlag("connections", options.connections);
const cores = availableParallelism();
const counts = options.workers.split(",").map((text) => positiveNumberFlag("workers", text.trim()));
const skipped = counts.filter((count) => count > cores);
const measured = counts.filter((count) => count <= cores);
if (!measured.includes(1)) measured.unshift(1);

const root = new URL("..", import.meta.url).pathname;
const workspace = makeTempDir("bench-workers");
const binary = buildBinary(join(root, "dist", "latchkey"));

interface Row extends LoadResult {
  workers: number;
  loadCores: string;
  sharedCores: boolean;
}

async function measure(workers: number): Promise<Row> {
  const rootKey = generateSecret(ROOT_KEY_PREFIX);
  const server = await startBinary(binary, {
    args: ["--db", join(workspace.path, `workers-${workers}.db`), "--workers", String(workers)],
    env: { LATCHKEY_ROOT_KEY: rootKey, LATCHKEY_AUTH_FAILURES_PER_MINUTE: "1000000" },
    wrapper: onCore(`0-${workers - 1}`, []),
    readyTimeoutMilliseconds: 30_000,
  });
  try {
    await everyWorkerAnswers(server, workers);
    const projectId = (await callJson(server.url, "GET", "/v1/keys", { key: rootKey })).body.data[0].project_id;
    const patched = await callJson(server.url, "PATCH", `/v1/projects/${projectId}`, {
      key: rootKey,
      body: { ratelimit: { limit: 1_000_000, window_seconds: 1 } },
    });
    if (patched.status !== 200) throw new Error(`the project's limit was not raised: ${JSON.stringify(patched.body)}`);
    const key = (
      await callJson(server.url, "POST", "/v1/keys", { key: rootKey, body: { name: "bench", scopes: ["runs:read"] } })
    ).body;
    const spare = cores - workers;
    const sharedCores = spare === 0;
    const loadCores = sharedCores ? `0-${cores - 1}` : `${workers}-${cores - 1}`;
    const spec = {
      url: `${server.url}/v1/authz?scopes=runs:read`,
      headers: { authorization: `Bearer ${key.secret}` },
      connections: connections * workers,
      seconds,
      threads: Math.max(1, Math.min(workers, spare)),
      cores: loadCores,
    };
    await runLoad({ ...spec, seconds: 1 });
    const result = await runLoad(spec);
    if (result.non2xx > 0) throw new Error(`${workers} workers: ${result.non2xx} of ${result.requests} not 2xx`);
    return { ...result, workers, loadCores, sharedCores };
  } finally {
    await server.stop();
  }
}

/** The primary answers at once; each worker once it has started and joined the port. */
async function everyWorkerAnswers(server: RunningBinary, workers: number): Promise<void> {
  const seen = new Set<string>();
  const deadline = performance.now() + 30_000;
  while (seen.size < workers) {
    if (performance.now() > deadline) throw new Error(`only ${seen.size} of ${workers} workers answered`);
    const metrics = await (await fetch(`${server.url}/metrics`, { headers: { connection: "close" } })).text();
    seen.add(/latchkey_worker_index (\d+)/.exec(metrics)?.[1] ?? "none");
  }
}

try {
  const rows: Row[] = [];
  for (const workers of measured) rows.push(await measure(workers));
  const one = rows[0]!.requestsPerSecond;
  console.log(
    `\nlatchkey --workers bench: /v1/authz with a cached key, ${cores} cores, ${connections} connections per ` +
      `worker, ${seconds} s per run, ${LOAD_GENERATOR}`,
  );
  console.log("| workers | req/s | p50 ms | p99 ms | ÷ (N × one worker) | load generator on cores | goal |");
  console.log("|---:|---:|---:|---:|---:|---|---|");
  for (const row of rows) {
    const efficiency = row.requestsPerSecond / (row.workers * one);
    let goal = `${efficiency >= 0.8 ? "met" : "MISSED"}: ≥ 0.8`;
    if (row.workers === 1) goal = "";
    else if (row.sharedCores) goal = "not judged: the load generator shares the workers' cores";
    console.log(
      `| ${row.workers} | ${format(row.requestsPerSecond, 0)} | ${format(row.p50Ms)} | ${format(row.p99Ms)} | ` +
        `${format(efficiency)} | ${row.loadCores} | ${goal} |`,
    );
  }
  for (const count of skipped) console.log(`| ${count} | | | | | | not run: the machine has ${cores} cores |`);
} finally {
  workspace.remove();
}
