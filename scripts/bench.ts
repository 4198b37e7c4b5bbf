/**
 * Throughput and latency of latchkey's hot path, as ratios to two baselines measured in the same run: a bare Bun.serve
 * answering a small JSON body, and "same-work" (scripts/bench/same-work.ts), a bare Bun.serve doing what /v1/authz
 * must do observably and nothing more (the limit for this job on the machine at hand; the targets are against it).
 *
 *   bun run bench [--runs 3] [--seconds 5] [--connections 50] [--database-url postgres://… [--redis-url redis://…]]
 *   bun run bench --scale [--keys 1000000] [--samples 5000] [--database-url postgres://…]
 *
 * `--only authz` runs the scenarios whose name contains the text; `--workers 1,2,4,8` runs scripts/bench-workers.ts
 * instead (one port served by N workers, against N × one worker).
 *
 * The binary is built, started on a fresh database and pinned to the first core; the baselines are pinned to the same
 * core; the load generator (wrk, or autocannon when wrk is missing) runs on the second. Each scenario is run --runs
 * times, each run right after a run of each baseline, and its ratios are taken against those, so a noisy machine
 * moves both together; the table gives min–max (median) over the runs and how many runs met each target. Beside the
 * throughput ratios it gives the server's CPU time per request and same-work's (see bench/load.ts), which a shared
 * machine disturbs far less. Each scenario starts with a discarded one-second run of it and of each baseline, so
 * figures are taken after the JIT has settled.
 *
 * --scale seeds a database with --keys keys, then measures verifications of keys never seen before (cold cache:
 * every one goes to the database), one at a time, and the server's resident memory after filling its caches.
 *
 * With --database-url the server keeps its state in PostgreSQL (in a schema of its own, dropped afterwards); with
 * --redis-url its buckets are shared through Redis, and the run reports how many rate-limit decisions were answered
 * from a lease held in memory rather than a round trip.
 */
import { Database } from "bun:sqlite";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import { generateSecret, hashSecret, ROOT_KEY_PREFIX, secretHint } from "../src/domain/keys/secret.ts";
import { encodeBase62 } from "../src/lib/base62.ts";
import { newId } from "../src/lib/ids.ts";
import { buildBinary, callJson, makeTempDir, type RunningBinary, startBinary } from "../test/support/run-binary.ts";
import { format, LOAD_GENERATOR, type LoadResult, type LoadSpec, onCore, runLoad } from "./bench/load.ts";
import { positiveNumberFlag } from "./lib/args.ts";

const { values: options } = parseArgs({
  options: {
    seconds: { type: "string", default: "5" },
    runs: { type: "string", default: "3" },
    connections: { type: "string", default: "50" },
    scale: { type: "boolean", default: false },
    keys: { type: "string", default: "1000000" },
    samples: { type: "string", default: "5000" },
    "database-url": { type: "string" },
    "redis-url": { type: "string" },
    only: { type: "string" },
    workers: { type: "string" },
  },
});
if (options.workers !== undefined) {
  const script = join(import.meta.dir, "bench-workers.ts");
  const flags = ["--workers", options.workers, "--seconds", options.seconds, "--connections", options.connections];
  const child = Bun.spawn([process.execPath, script, ...flags], { stdio: ["inherit", "inherit", "inherit"] });
  process.exit(await child.exited);
}
const schema = `latchkey_bench_${crypto.randomUUID().slice(0, 8)}`;
const databaseUrl = options["database-url"] ? withSearchPath(options["database-url"], schema) : undefined;
const redisArgs = options["redis-url"] ? ["--redis-url", options["redis-url"]] : [];
const engine = `${databaseUrl ? "PostgreSQL" : "SQLite"}${options["redis-url"] ? " + Redis" : ""}`;
const seconds = positiveNumberFlag("seconds", options.seconds, { integer: false });
const connections = positiveNumberFlag("connections", options.connections);
const runCount = positiveNumberFlag("runs", options.runs);

const root = new URL("..", import.meta.url).pathname;
const workspace = makeTempDir("bench");
const binary = buildBinary(join(root, "dist", "latchkey"));
const rootKey = generateSecret(ROOT_KEY_PREFIX);
const serverEnv: Record<string, string> = {
  LATCHKEY_ROOT_KEY: rootKey,
  LATCHKEY_AUTH_FAILURES_PER_MINUTE: "1000000",
  // Any other LATCHKEY_* setting given to the bench (cache sizes, say) is passed on to the server.
  ...Object.fromEntries(Object.entries(Bun.env).filter(([name]) => name.startsWith("LATCHKEY_")) as [string, string][]),
};

function startLatchkey(db: string, env: Record<string, string> = {}): Promise<RunningBinary> {
  const storage = databaseUrl ? ["--database-url", databaseUrl] : ["--db", db];
  return startBinary(binary, {
    args: [...storage, ...redisArgs],
    env: { ...serverEnv, ...env },
    wrapper: onCore(0, []),
    readyTimeoutMilliseconds: 30_000,
  });
}

function withSearchPath(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set("search_path", name);
  return parsed.toString();
}

async function withPostgres<Result>(work: (client: pg.Client) => Promise<Result>): Promise<Result> {
  const client = new pg.Client({ connectionString: options["database-url"], options: `-c search_path=${schema}` });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

try {
  if (options.scale) await scaleBench();
  else await throughputBench();
} finally {
  workspace.remove();
  if (databaseUrl) await withPostgres((client) => client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
}

async function throughputBench(): Promise<void> {
  const server = await startLatchkey(join(workspace.path, "bench.db"));
  const bare = await startBaseline("baseline.ts");
  const sameWork = await startBaseline("same-work.ts");
  try {
    const projectId = (await callJson(server.url, "GET", "/v1/keys", { key: rootKey })).body.data[0].project_id;
    await callJson(server.url, "PATCH", `/v1/projects/${projectId}`, {
      key: rootKey,
      body: { ratelimit: { limit: 1_000_000, window_seconds: 1 } },
    });
    const key = (
      await callJson(server.url, "POST", "/v1/keys", { key: rootKey, body: { name: "bench", scopes: ["runs:read"] } })
    ).body;
    const token = (await callJson(server.url, "POST", "/v1/sessions", { key: key.secret, body: { user_id: "bench" } }))
      .body.token;
    const limited = (
      await callJson(server.url, "POST", "/v1/keys", {
        key: rootKey,
        body: { name: "limited", scopes: ["runs:read"], ratelimit: { limit: 1, window_seconds: 86_400 } },
      })
    ).body;
    await callJson(server.url, "POST", "/v1/keys/verify", { body: { key: limited.secret } });
    const tokensFile = join(workspace.path, "tokens.txt");
    writeFileSync(tokensFile, (await mintTokens(server.url, key.secret, 30_000)).join("\n"));

    interface Scenario {
      name: string;
      spec: LoadSpec;
      expect: "2xx" | "429";
      target?: { met: (run: Row) => boolean; description: string };
    }
    const scenarios: Scenario[] = [
      {
        name: "/v1/authz, cached key",
        spec: {
          url: `${server.url}/v1/authz?scopes=runs:read`,
          headers: { authorization: `Bearer ${key.secret}` },
          connections,
          seconds,
        },
        expect: "2xx",
        target: {
          met: (row) => row.sameWorkRatio >= 0.8 && row.p99Ms <= 2 * row.sameWork.p99Ms,
          description: "≥ 0.8× same-work, p99 ≤ 2× same-work's",
        },
      },
      {
        name: "/v1/keys/verify",
        spec: {
          url: `${server.url}/v1/keys/verify`,
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ key: key.secret, scopes: ["runs:read"] }),
          connections,
          seconds,
        },
        expect: "2xx",
        target: { met: (row) => row.sameWorkRatio >= 0.7, description: "≥ 0.7× same-work" },
      },
      {
        name: "/v1/authz, cached session token",
        spec: { url: `${server.url}/v1/authz`, headers: { "x-session-token": token }, connections, seconds },
        expect: "2xx",
        target: { met: (row) => row.sameWorkRatio >= 0.7, description: "≥ 0.7× same-work" },
      },
      {
        name: "/v1/authz, a new token each request",
        spec: { url: `${server.url}/v1/authz`, tokensFile, connections, seconds },
        expect: "2xx",
      },
      {
        name: "POST /v1/keys (key creation)",
        spec: {
          url: `${server.url}/v1/keys`,
          method: "POST",
          headers: { authorization: `Bearer ${rootKey}`, "content-type": "application/json" },
          body: JSON.stringify({ name: "bench", scopes: ["runs:read"] }),
          connections,
          seconds,
        },
        expect: "2xx",
        target: { met: (row) => row.requestsPerSecond >= 1000, description: "≥ 1,000/s" },
      },
      {
        name: "/v1/authz, rate limited (429)",
        spec: {
          url: `${server.url}/v1/authz`,
          headers: { authorization: `Bearer ${limited.secret}` },
          connections,
          seconds,
        },
        expect: "429",
      },
    ];

    interface Row extends LoadResult {
      baseline: LoadResult;
      sameWork: LoadResult;
      ratio: number;
      sameWorkRatio: number;
    }
    const chosen = scenarios.filter((scenario) => options.only === undefined || scenario.name.includes(options.only));
    const runsOf = new Map<string, Row[]>();
    const sameWorkSpec = { url: sameWork.url, headers: { authorization: `Bearer ${key.secret}` }, connections };
    for (const scenario of chosen) {
      // A discarded second of each first, so all are measured after the JIT has settled.
      await runLoad({ url: bare.url, connections, seconds: 1 });
      await runLoad({ ...sameWorkSpec, seconds: 1 });
      await runLoad({ ...scenario.spec, seconds: 1 });
      // The runs alternate with the baselines, and each ratio is taken against the baselines of its own run.
      const runs: Row[] = [];
      for (let run = 0; run < runCount; run++) {
        const baseline = await runLoad({ url: bare.url, connections, seconds, serverPid: bare.process.pid });
        const sameWorkResult = await runLoad({ ...sameWorkSpec, seconds, serverPid: sameWork.process.pid });
        const result = await runLoad({ ...scenario.spec, serverPid: server.process.pid });
        const expectedNon2xx = scenario.expect === "429" ? result.requests : 0;
        if (Math.abs(result.non2xx - expectedNon2xx) > 0) {
          throw new Error(
            `${scenario.name}: ${result.non2xx} of ${result.requests} answers were not ${scenario.expect}`,
          );
        }
        runs.push({
          ...result,
          baseline,
          sameWork: sameWorkResult,
          ratio: result.requestsPerSecond / baseline.requestsPerSecond,
          sameWorkRatio: result.requestsPerSecond / sameWorkResult.requestsPerSecond,
        });
      }
      runsOf.set(scenario.name, runs);
    }

    console.log(
      `\nlatchkey bench (${engine}): ${connections} connections, ${seconds} s per run, ${runCount} run(s) per ` +
        `scenario alternating with the baselines, ${LOAD_GENERATOR}, server and baselines on core 0`,
    );
    console.log(
      "| scenario | req/s | p50 ms | p99 ms | ratio to bare | ratio to same-work | CPU µs/request | " +
        "same-work's CPU µs/request | same-work's CPU ÷ latchkey's | target |",
    );
    console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for (const scenario of chosen) {
      const runs = runsOf.get(scenario.name)!;
      const cpuRatios = runs.flatMap((run) =>
        run.cpuMicrosecondsPerRequest && run.sameWork.cpuMicrosecondsPerRequest
          ? [run.sameWork.cpuMicrosecondsPerRequest / run.cpuMicrosecondsPerRequest]
          : [],
      );
      const cpu = (pick: (run: Row) => number | null) => {
        const values = runs.flatMap((run) => pick(run) ?? []);
        return values.length === 0 ? "–" : spread(values, 1);
      };
      const target = scenario.target
        ? runsVerdict(runs.filter((run) => scenario.target!.met(run)).length, runs.length, scenario.target.description)
        : "";
      console.log(
        `| ${scenario.name} | ${spread(
          runs.map((run) => run.requestsPerSecond),
          0,
        )} | ` +
          `${spread(runs.map((run) => run.p50Ms))} | ${spread(runs.map((run) => run.p99Ms))} | ` +
          `${spread(runs.map((run) => run.ratio))} | ${spread(runs.map((run) => run.sameWorkRatio))} | ` +
          `${cpu((run) => run.cpuMicrosecondsPerRequest)} | ` +
          `${cpu((run) => run.sameWork.cpuMicrosecondsPerRequest)} | ` +
          `${cpuRatios.length === 0 ? "–" : spread(cpuRatios)} | ${target} |`,
      );
    }
    const sameWorkRates = [...runsOf.values()].flat().map((run) => run.sameWork.requestsPerSecond);
    const bareRates = [...runsOf.values()].flat().map((run) => run.baseline.requestsPerSecond);
    console.log(
      `\nbaselines in these runs: bare ${spread(bareRates, 0)} req/s, same-work ${spread(sameWorkRates, 0)} req/s. ` +
        "Each range is min–max (median) over the runs.",
    );
    if (options["redis-url"]) {
      const metrics = (await (await fetch(`${server.url}/metrics`)).text()).split("\n");
      const read = (name: string) => Number(metrics.find((line) => line.startsWith(`${name} `))?.split(" ")[1] ?? 0);
      const hits = read("latchkey_ratelimit_lease_hits_total");
      const leases = read("latchkey_redis_leases_total");
      console.log(
        `\nshared buckets: ${format(hits, 0)} decisions from a lease in memory, ` +
          `${format(leases, 0)} leases from Redis ` +
          `(lease hit rate ${format((100 * hits) / Math.max(1, hits + leases), 1)}%), ` +
          `${format(read("latchkey_redis_errors_total"), 0)} Redis errors`,
      );
    }
  } finally {
    bare.process.kill();
    sameWork.process.kill();
    await server.stop();
  }
}

/** A baseline server from scripts/bench/, pinned to the server's core. */
async function startBaseline(file: string): Promise<{ url: string; process: ReturnType<typeof Bun.spawn> }> {
  const child = Bun.spawn(onCore(0, [process.execPath, join(import.meta.dir, "bench", file)]), { stdout: "pipe" });
  const port = Number(/listening (\d+)/.exec(await readLine(child.stdout as ReadableStream<Uint8Array>))![1]);
  return { url: `http://127.0.0.1:${port}/`, process: child };
}

function verdict(met: boolean, description: string): string {
  return `${met ? "met" : "MISSED"}: ${description}`;
}

/** How many runs met a target. */
function runsVerdict(met: number, runs: number, description: string): string {
  if (met === 0) return `MISSED${runs > 1 ? " in every run" : ""}: ${description}`;
  return `met${runs > 1 ? ` in ${met} of ${runs} runs` : ""}: ${description}`;
}

/** Figures of several runs as `min–max (median)`, or the one figure of a single run. */
function spread(values: readonly number[], digits = 2): string {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 1) return format(sorted[0]!, digits);
  const middle = sorted.length / 2;
  const median = sorted.length % 2 === 1 ? sorted[Math.floor(middle)]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return `${format(sorted[0]!, digits)}–${format(sorted.at(-1)!, digits)} (${format(median, digits)})`;
}

async function mintTokens(url: string, secret: string, count: number): Promise<string[]> {
  const tokens: string[] = [];
  const workers = Array.from({ length: 32 }, async (_, worker) => {
    for (let index = worker; index < count; index += 32) {
      const answer = await callJson(url, "POST", "/v1/sessions", { key: secret, body: { user_id: `user_${index}` } });
      tokens.push(answer.body.token);
    }
  });
  await Promise.all(workers);
  return tokens;
}

async function readLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return text;
}

async function scaleBench(): Promise<void> {
  const keyCount = positiveNumberFlag("keys", options.keys);
  const sampleCount = positiveNumberFlag("samples", options.samples);
  const db = join(workspace.path, "scale.db");
  // A first start creates the schema, defaults and signing key; then the keys are written straight into the file.
  const first = await startLatchkey(db);
  await first.stop();
  const seedStarted = performance.now();
  const samples = databaseUrl
    ? await seedKeysPostgres(keyCount, sampleCount * 21)
    : seedKeys(db, keyCount, sampleCount * 21);
  const seedSeconds = (performance.now() - seedStarted) / 1000;

  const server = await startLatchkey(db);
  try {
    const rssBeforeMb = residentMegabytes(server.process.pid);
    const latencies: number[] = [];
    for (const secret of samples.slice(0, sampleCount)) {
      const started = performance.now();
      const answer = await callJson(server.url, "POST", "/v1/keys/verify", { body: { key: secret } });
      latencies.push(performance.now() - started);
      if (answer.body.code !== "VALID") throw new Error(`seeded key refused: ${answer.body.code}`);
    }
    latencies.sort((left, right) => left - right);
    const percentile = (p: number) =>
      latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!;
    // Fill the key cache past its bound with keys never seen before, to show memory stays bounded.
    const rest = samples.slice(sampleCount);
    await Promise.all(
      Array.from({ length: 16 }, async (_, worker) => {
        for (let index = worker; index < rest.length; index += 16) {
          await callJson(server.url, "POST", "/v1/keys/verify", { body: { key: rest[index] } });
        }
      }),
    );
    const rssAfterMb = residentMegabytes(server.process.pid);
    console.log(
      `\nlatchkey scale bench (${engine}): ${keyCount.toLocaleString("en-US")} keys seeded in ` +
        `${format(seedSeconds, 1)} s`,
    );
    console.log("| measure | figure | target |");
    console.log("|---|---:|---|");
    console.log(
      `| cold-cache verification p50 (${sampleCount} keys, one at a time) | ${format(percentile(50), 3)} ms | |`,
    );
    console.log(
      `| cold-cache verification p99 | ${format(percentile(99), 3)} ms | ${verdict(percentile(99) < 2, "< 2 ms")} |`,
    );
    console.log(`| cold-cache verification max | ${format(latencies.at(-1)!, 3)} ms | |`);
    console.log(`| RSS after start | ${format(rssBeforeMb, 0)} MB | |`);
    console.log(
      `| RSS after ${samples.length.toLocaleString("en-US")} distinct keys verified | ${format(rssAfterMb, 0)} MB | ` +
        `${verdict(rssAfterMb < 300, "< 300 MB")} |`,
    );
  } finally {
    await server.stop();
  }
}

/** One seeded key: its id and the hash and hint of its secret. */
function seedRow(index: number, withSecrets: number, now: number, secrets: string[]) {
  const id = newId("apiKey", now);
  if (index < withSecrets) {
    const secret = generateSecret("sk_live_");
    secrets.push(secret);
    return { id, hash: hashSecret(secret), hint: secretHint(secret) };
  }
  const hash = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex");
  return { id, hash, hint: `sk_live_...${encodeBase62(crypto.getRandomValues(new Uint8Array(3)), 5).slice(1)}` };
}

/** seedKeys for PostgreSQL: batches of 10,000 rows through unnest. */
async function seedKeysPostgres(count: number, withSecrets: number): Promise<string[]> {
  const secrets: string[] = [];
  const now = Date.now();
  await withPostgres(async (client) => {
    const { rows } = await client.query<{ id: string }>("SELECT id FROM projects WHERE is_default");
    const projectId = rows[0]!.id;
    for (let from = 0; from < count; from += 10_000) {
      const batch = Array.from({ length: Math.min(10_000, count - from) }, (_, offset) =>
        seedRow(from + offset, withSecrets, now, secrets),
      );
      const ids = batch.map((row) => row.id);
      await client.query("BEGIN");
      await client.query(
        `INSERT INTO api_keys (id, project_id, name, scopes, hint, created_at_ms, updated_at_ms)
         SELECT id, $2, 'seed', '["runs:read"]', hint, $4, $4 FROM unnest($1::text[], $3::text[]) AS t(id, hint)`,
        [ids, projectId, batch.map((row) => row.hint), now],
      );
      await client.query(
        `INSERT INTO key_secrets (hash, key_id, created_at_ms)
         SELECT hash, id, $3 FROM unnest($1::text[], $2::text[]) AS t(hash, id)`,
        [batch.map((row) => row.hash), ids, now],
      );
      await client.query("COMMIT");
    }
  });
  return secrets;
}

/**
 * Writes `count` keys into the default project. The secrets of the first `withSecrets` are generated and returned
 * (those are the ones verified); the rest get random secret hashes, which is all a lookup ever sees of them.
 */
function seedKeys(path: string, count: number, withSecrets: number): string[] {
  const sqlite = new Database(path);
  sqlite.run("PRAGMA synchronous = OFF");
  const project = sqlite.query("SELECT id FROM projects WHERE is_default = 1").get() as { id: string };
  const insertKey = sqlite.prepare(
    "INSERT INTO api_keys (id, project_id, name, scopes, hint, created_at_ms, updated_at_ms) " +
      "VALUES (?, ?, ?, ?, ?, ?, ?)",
  );
  const insertSecret = sqlite.prepare("INSERT INTO key_secrets (hash, key_id, created_at_ms) VALUES (?, ?, ?)");
  const secrets: string[] = [];
  const now = Date.now();
  const scopes = JSON.stringify(["runs:read"]);
  const batch = sqlite.transaction((from: number, to: number) => {
    for (let index = from; index < to; index++) {
      const row = seedRow(index, withSecrets, now, secrets);
      insertKey.run(row.id, project.id, `seed ${index}`, scopes, row.hint, now, now);
      insertSecret.run(row.hash, row.id, now);
    }
  });
  for (let from = 0; from < count; from += 50_000) batch(from, Math.min(count, from + 50_000));
  sqlite.close();
  return secrets;
}

function residentMegabytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}
