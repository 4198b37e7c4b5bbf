/**
 * Crash cycles: start the binary on one database (a SQLite file, or PostgreSQL with a database URL), drive
 * concurrent key creations, revocations, rotations and CLI approvals, kill -9 it at a random moment, start it again,
 * and check that
 *
 *   - it is ready again within the limit (2 s),
 *   - the database is sound (SQLite: `PRAGMA integrity_check` is ok; PostgreSQL: every table reads),
 *   - every acknowledged creation and approval is there, every acknowledged revocation holds (the key is refused),
 *     and every acknowledged rotation holds (the old secret is refused, the new one works),
 *   - and, at the end, no secret handed out appears in any server's output or in the database.
 *
 * A write whose answer never arrived may or may not have happened; its key is no longer checked either way.
 */
import { Database } from "bun:sqlite";
import pg from "pg";
import { generateSecret, ROOT_KEY_PREFIX } from "../../src/domain/keys/secret.ts";
import { assertNoLeaks, readDatabaseFiles } from "./leaks.ts";
import { callJson, type RunningBinary, startBinary } from "./run-binary.ts";

export interface CrashReport {
  cycles: number;
  acknowledged: { created: number; revoked: number; rotated: number; approved: number };
  checked: number;
  readyMillisecondsMax: number;
  readyMillisecondsMedian: number;
  failures: string[];
}

interface TrackedKey {
  id: string;
  secret: string;
  retiredSecrets: string[];
  revoked: boolean;
  /** A write to it was sent but never answered: its state is unknown. */
  uncertain: boolean;
}

/** Where the binary keeps its state: a SQLite file, or a PostgreSQL URL (`?search_path=` for a schema of its own). */
export type CrashDatabase = { sqlitePath: string } | { postgresUrl: string };

export async function runCrashCycles(options: {
  binary: string;
  database: CrashDatabase;
  cycles: number;
  readyLimitMilliseconds?: number;
  onCycle?: (cycle: number, report: CrashReport) => void;
}): Promise<CrashReport> {
  const rootKey = generateSecret(ROOT_KEY_PREFIX);
  const env = {
    LATCHKEY_ROOT_KEY: rootKey,
    LATCHKEY_AUTH_FAILURES_PER_MINUTE: "1000000",
    LATCHKEY_CLI_STARTS_PER_MINUTE: "1000000",
  };
  const readyLimit = options.readyLimitMilliseconds ?? 2000;
  const keys: TrackedKey[] = [];
  const approvedKeyIds: string[] = [];
  const report: CrashReport = {
    cycles: 0,
    acknowledged: { created: 0, revoked: 0, rotated: 0, approved: 0 },
    checked: 0,
    readyMillisecondsMax: 0,
    readyMillisecondsMedian: 0,
    failures: [],
  };
  const readyTimes: number[] = [];
  const output: string[] = [];

  for (let cycle = 0; cycle < options.cycles; cycle++) {
    const startedAt = performance.now();
    const args =
      "sqlitePath" in options.database
        ? ["--db", options.database.sqlitePath]
        : ["--database-url", options.database.postgresUrl];
    const server = await startBinary(options.binary, { args, env });
    await waitReady(server);
    const readyMs = performance.now() - startedAt;
    readyTimes.push(readyMs);
    if (readyMs > readyLimit) report.failures.push(`cycle ${cycle}: ready after ${readyMs.toFixed(0)} ms`);

    if (cycle === 0) await allowHeavyUse(server, rootKey);
    else
      report.checked += await checkAcknowledged(
        server,
        rootKey,
        keys,
        approvedKeyIds,
        options.database,
        cycle,
        report.failures,
      );

    await workload(server, rootKey, keys, approvedKeyIds, report, 20 + Math.random() * 280);
    await server.kill9();
    output.push(server.stdout(), server.stderr());
    report.cycles++;
    options.onCycle?.(cycle, report);
  }
  // Every secret handed out over all cycles: none in any server's output or in the database file.
  try {
    assertNoLeaks([rootKey, ...keys.flatMap((key) => [key.secret, ...key.retiredSecrets])], {
      "server output": output.join("\n"),
      database: await readDatabase(options.database),
    });
  } catch (error) {
    report.failures.push(error instanceof Error ? error.message : String(error));
  }
  readyTimes.sort((left, right) => left - right);
  report.readyMillisecondsMax = readyTimes.at(-1) ?? 0;
  report.readyMillisecondsMedian = readyTimes[Math.floor(readyTimes.length / 2)] ?? 0;
  return report;
}

/** Far beyond the ready limit: a server that never gets ready ends the run with a message instead of hanging it. */
const GIVE_UP_MILLISECONDS = 30_000;

async function waitReady(server: RunningBinary): Promise<void> {
  const deadline = performance.now() + GIVE_UP_MILLISECONDS;
  while (performance.now() < deadline) {
    try {
      if ((await fetch(`${server.url}/readyz`)).status === 200) return;
    } catch {
      // not accepting yet
    }
    await Bun.sleep(5);
  }
  await server.kill9();
  throw new Error(`not ready after ${GIVE_UP_MILLISECONDS} ms; output:\n${server.stderr()}`);
}

async function allowHeavyUse(server: RunningBinary, rootKey: string): Promise<void> {
  const projectId = (await callJson(server.url, "GET", "/v1/keys", { key: rootKey })).body.data[0].project_id;
  await callJson(server.url, "PATCH", `/v1/projects/${projectId}`, {
    key: rootKey,
    body: {
      ratelimit: { limit: 1_000_000, window_seconds: 1 },
      cli_default_scopes: ["runs:read"],
      cli_poll_interval_seconds: 1,
    },
  });
}

/** Concurrent writes until the time is up; the caller kills the server right after, with requests still in flight. */
async function workload(
  server: RunningBinary,
  rootKey: string,
  keys: TrackedKey[],
  approvedKeyIds: string[],
  report: CrashReport,
  durationMs: number,
): Promise<void> {
  const until = performance.now() + durationMs;
  const pick = () => {
    const live = keys.filter((key) => !key.revoked && !key.uncertain);
    return live[Math.floor(Math.random() * live.length)];
  };
  const worker = async () => {
    while (performance.now() < until) {
      const action = Math.random();
      if (action < 0.4 || keys.length < 5) {
        const answer = await attempt(() =>
          callJson(server.url, "POST", "/v1/keys", { key: rootKey, body: { name: "crash", scopes: ["runs:read"] } }),
        );
        if (answer?.status === 200) {
          keys.push({
            id: answer.body.id,
            secret: answer.body.secret,
            retiredSecrets: [],
            revoked: false,
            uncertain: false,
          });
          report.acknowledged.created++;
        }
      } else if (action < 0.6) {
        const key = pick();
        if (!key) continue;
        key.uncertain = true;
        const answer = await attempt(() => callJson(server.url, "DELETE", `/v1/keys/${key.id}`, { key: rootKey }));
        if (answer?.status === 200) {
          key.revoked = true;
          key.uncertain = false;
          report.acknowledged.revoked++;
        }
      } else if (action < 0.8) {
        const key = pick();
        if (!key) continue;
        key.uncertain = true;
        const answer = await attempt(() =>
          callJson(server.url, "POST", `/v1/keys/${key.id}/rotate`, { key: rootKey, body: { grace_seconds: 0 } }),
        );
        if (answer?.status === 200) {
          key.retiredSecrets.push(key.secret);
          key.secret = answer.body.secret;
          key.uncertain = false;
          report.acknowledged.rotated++;
        }
      } else {
        const started = await attempt(() =>
          callJson(server.url, "POST", "/v1/api/auth/sessions", { body: { deviceName: "crash" } }),
        );
        if (started?.status !== 201) continue;
        const approved = await attempt(() =>
          callJson(server.url, "POST", `/v1/api/auth/codes/${started.body.userCode}/approve`, {
            key: rootKey,
            body: { user_id: "crash" },
          }),
        );
        if (approved?.status === 200) {
          approvedKeyIds.push(approved.body.key_id);
          report.acknowledged.approved++;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: 6 }, worker));
}

/** A request the crash may cut off: no answer means unknown, not failure. */
async function attempt<T>(request: () => Promise<T>): Promise<T | undefined> {
  try {
    return await request();
  } catch {
    return undefined;
  }
}

async function checkAcknowledged(
  server: RunningBinary,
  rootKey: string,
  keys: TrackedKey[],
  approvedKeyIds: string[],
  place: CrashDatabase,
  cycle: number,
  failures: string[],
): Promise<number> {
  if ("sqlitePath" in place) {
    const database = new Database(place.sqlitePath, { readonly: true });
    const integrity = database.query("PRAGMA integrity_check").get() as { integrity_check: string };
    database.close();
    if (integrity.integrity_check !== "ok")
      failures.push(`cycle ${cycle}: integrity_check said ${integrity.integrity_check}`);
  } else {
    try {
      await readDatabase(place);
    } catch (error) {
      failures.push(`cycle ${cycle}: reading every table failed: ${error instanceof Error ? error.message : error}`);
    }
  }
  // Every key written in the last cycle, and a sample of the older ones.
  const sample = [...keys.slice(-60), ...keys.slice(0, -60).filter(() => Math.random() < 0.1)].filter(
    (key) => !key.uncertain,
  );
  let checked = 0;
  for (const key of sample) {
    const current = (await callJson(server.url, "POST", "/v1/keys/verify", { body: { key: key.secret } })).body.code;
    const expected = key.revoked ? "API_KEY_REVOKED" : "VALID";
    if (current !== expected) failures.push(`cycle ${cycle}: ${key.id} answered ${current}, expected ${expected}`);
    for (const retired of key.retiredSecrets.slice(-1)) {
      const old = (await callJson(server.url, "POST", "/v1/keys/verify", { body: { key: retired } })).body.code;
      if (old !== "API_KEY_REVOKED") failures.push(`cycle ${cycle}: a rotated-out secret of ${key.id} answered ${old}`);
    }
    checked++;
  }
  for (const keyId of approvedKeyIds.slice(-20)) {
    const answer = await callJson(server.url, "GET", `/v1/keys/${keyId}`, { key: rootKey });
    if (answer.status !== 200)
      failures.push(`cycle ${cycle}: the key of an acknowledged CLI approval is missing (${keyId})`);
    checked++;
  }
  return checked;
}

/** Everything in the database: SQLite's files as bytes (deleted rows too), or every row of every PostgreSQL table. */
async function readDatabase(place: CrashDatabase): Promise<string | Buffer> {
  if ("sqlitePath" in place) return readDatabaseFiles(place.sqlitePath);
  const url = new URL(place.postgresUrl);
  const schema = url.searchParams.get("search_path");
  url.searchParams.delete("search_path");
  const client = new pg.Client({
    connectionString: url.toString(),
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
  });
  await client.connect();
  try {
    const tables = await client.query<{ name: string }>(
      "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()",
    );
    const parts: string[] = [];
    for (const { name } of tables.rows)
      parts.push(JSON.stringify((await client.query(`SELECT * FROM "${name}"`)).rows));
    return parts.join("\n");
  } finally {
    await client.end();
  }
}
