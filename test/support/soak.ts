/**
 * Soak: mixed traffic against the binary for a while, the way a real deployment sees it (verify, forward-auth, key
 * management, session tokens, CLI logins), sampling the server's resident memory and the WAL file as it goes.
 * Reports throughput, latency, every answer that was not what the operation should give (429 aside), and whether
 * memory and the WAL stayed bounded.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { generateSecret, ROOT_KEY_PREFIX } from "../../src/domain/keys/secret.ts";
import { callJson, startBinary } from "./run-binary.ts";

interface SoakSample {
  atSeconds: number;
  rssMegabytes: number;
  walMegabytes: number;
  requests: number;
}

export interface SoakReport {
  seconds: number;
  requests: number;
  requestsPerSecond: number;
  p50Milliseconds: number;
  p99Milliseconds: number;
  rateLimited: number;
  unexpected: string[];
  samples: SoakSample[];
  byOperation: Record<string, number>;
}

export async function runSoak(options: {
  binary: string;
  databasePath: string;
  seconds: number;
  clients?: number;
  sampleEverySeconds?: number;
}): Promise<SoakReport> {
  const rootKey = generateSecret(ROOT_KEY_PREFIX);
  const server = await startBinary(options.binary, {
    args: ["--db", options.databasePath],
    env: {
      LATCHKEY_ROOT_KEY: rootKey,
      LATCHKEY_CLI_STARTS_PER_MINUTE: "100000",
      LATCHKEY_AUTH_FAILURES_PER_MINUTE: "100000",
    },
  });
  const url = server.url;
  const projectId = (await callJson(url, "GET", "/v1/keys", { key: rootKey })).body.data[0].project_id;
  await callJson(url, "PATCH", `/v1/projects/${projectId}`, {
    key: rootKey,
    body: {
      ratelimit: { limit: 2000, window_seconds: 1 },
      cli_default_scopes: ["runs:read"],
      cli_poll_interval_seconds: 1,
    },
  });
  const appKey = (
    await callJson(url, "POST", "/v1/keys", {
      key: rootKey,
      body: { name: "app", scopes: ["keys:read", "keys:write", "cli:approve", "runs:read"] },
    })
  ).body;
  const hot = await Promise.all(
    Array.from(
      { length: 50 },
      async (_, index) =>
        (
          await callJson(url, "POST", "/v1/keys", {
            key: rootKey,
            body: { name: `hot ${index}`, scopes: ["runs:read"] },
          })
        ).body.secret as string,
    ),
  );
  // One key with a tiny bucket, so the soak also walks the 429 path.
  const limited = (
    await callJson(url, "POST", "/v1/keys", {
      key: rootKey,
      body: { name: "limited", scopes: ["runs:read"], ratelimit: { limit: 5, window_seconds: 10 } },
    })
  ).body.secret as string;

  const latencies: number[] = [];
  const unexpected: string[] = [];
  const byOperation: Record<string, number> = {};
  let rateLimited = 0;
  let requests = 0;
  const samples: SoakSample[] = [];
  const startedAt = performance.now();
  const until = startedAt + options.seconds * 1000;

  const timed = async (
    operation: string,
    expected: number[],
    send: () => Promise<Response>,
  ): Promise<Response | null> => {
    const started = performance.now();
    let response: Response;
    try {
      response = await send();
      await response.clone().arrayBuffer();
    } catch (error) {
      unexpected.push(`${operation}: ${error instanceof Error ? error.message : String(error)}`);
      return null;
    }
    latencies.push(performance.now() - started);
    requests++;
    byOperation[operation] = (byOperation[operation] ?? 0) + 1;
    if (response.status === 429) rateLimited++;
    else if (!expected.includes(response.status))
      unexpected.push(`${operation}: ${response.status} ${(await response.text()).slice(0, 200)}`);
    return response;
  };
  const json = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${url}${path}`, {
      method,
      headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const auth = (secret: string) => ({ authorization: `Bearer ${secret}` });
  const pick = <T>(items: T[]) => items[Math.floor(Math.random() * items.length)]!;

  const client = async () => {
    while (performance.now() < until) {
      const roll = Math.random();
      if (roll < 0.35) {
        await timed("verify", [200], () => json("POST", "/v1/keys/verify", { key: pick(hot), scopes: ["runs:read"] }));
      } else if (roll < 0.6) {
        await timed("authz", [200], () => json("GET", "/v1/authz?scopes=runs:read", undefined, auth(pick(hot))));
      } else if (roll < 0.62) {
        await timed("authz limited", [200], () => json("GET", "/v1/authz", undefined, auth(limited)));
      } else if (roll < 0.75) {
        const created = await timed("create key", [200], () =>
          json("POST", "/v1/keys", { name: "soak", scopes: ["runs:read"] }, auth(appKey.secret)),
        );
        if (created?.status !== 200) continue;
        const key = (await created.json()) as { id: string };
        await timed("rotate key", [200], () =>
          json("POST", `/v1/keys/${key.id}/rotate`, { grace_seconds: 0 }, auth(appKey.secret)),
        );
        await timed("revoke key", [200], () => json("DELETE", `/v1/keys/${key.id}`, undefined, auth(appKey.secret)));
        await timed("list keys", [200], () => json("GET", "/v1/keys?limit=20", undefined, auth(appKey.secret)));
      } else if (roll < 0.9) {
        const minted = await timed("mint session", [200], () =>
          json("POST", "/v1/sessions", { user_id: "soak" }, auth(appKey.secret)),
        );
        if (minted?.status !== 200) continue;
        const { token } = (await minted.json()) as { token: string };
        await timed("authz session", [200], () => json("GET", "/v1/authz", undefined, { "x-session-token": token }));
      } else {
        const started = await timed("cli start", [201], () =>
          json("POST", "/v1/api/auth/sessions", { deviceName: "soak" }),
        );
        if (started?.status !== 201) continue;
        const session = (await started.json()) as { sessionId: string; userCode: string };
        await timed("cli approve", [200], () =>
          json("POST", `/v1/api/auth/codes/${session.userCode}/approve`, { user_id: "soak" }, auth(appKey.secret)),
        );
        await timed("cli poll", [200], () => json("GET", `/v1/api/auth/sessions/${session.sessionId}`));
        await timed("cli acknowledge", [200], () => json("DELETE", `/v1/api/auth/sessions/${session.sessionId}`));
      }
    }
  };

  const sampleEvery = (options.sampleEverySeconds ?? 5) * 1000;
  const sampler = setInterval(() => {
    samples.push({
      atSeconds: Math.round((performance.now() - startedAt) / 1000),
      rssMegabytes: residentMegabytes(server.process.pid),
      walMegabytes: fileMegabytes(`${options.databasePath}-wal`),
      requests,
    });
  }, sampleEvery);
  try {
    await Promise.all(Array.from({ length: options.clients ?? 16 }, client));
  } finally {
    clearInterval(sampler);
    await server.stop();
  }
  latencies.sort((left, right) => left - right);
  const seconds = (performance.now() - startedAt) / 1000;
  return {
    seconds,
    requests,
    requestsPerSecond: requests / seconds,
    p50Milliseconds: latencies[Math.floor(latencies.length * 0.5)] ?? 0,
    p99Milliseconds: latencies[Math.floor(latencies.length * 0.99)] ?? 0,
    rateLimited,
    unexpected,
    samples,
    byOperation,
  };
}

/** Bounded: memory in the last third of the run no more than half again the first third's (plus slack), WAL small. */
export function boundedness(report: SoakReport): { memoryBounded: boolean; walBounded: boolean } {
  const third = Math.max(1, Math.floor(report.samples.length / 3));
  const early = Math.max(...report.samples.slice(0, third).map((sample) => sample.rssMegabytes));
  const late = Math.max(...report.samples.slice(-third).map((sample) => sample.rssMegabytes));
  const wal = Math.max(0, ...report.samples.map((sample) => sample.walMegabytes));
  return { memoryBounded: late <= early * 1.5 + 20, walBounded: wal <= 64 };
}

function residentMegabytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

function fileMegabytes(path: string): number {
  return existsSync(path) ? statSync(path).size / (1024 * 1024) : 0;
}
