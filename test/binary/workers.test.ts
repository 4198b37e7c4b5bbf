/**
 * `latchkey serve --workers N`: one port served by several processes of the compiled binary, still one latchkey —
 * buckets exact across the workers without Redis, revocations refused by every worker at once.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { generateSecret, ROOT_KEY_PREFIX } from "../../src/domain/keys/secret.ts";
import { callJson, type RunningBinary, runBinary, startBinary, useBuiltBinary } from "../support/binary.ts";

const built = useBuiltBinary("workers");
const LINUX = process.platform === "linux";

/** A request on a connection of its own, so the kernel picks a worker for it. */
async function fresh(url: string, path: string, init: RequestInit = {}) {
  const response = await fetch(`${url}${path}`, {
    ...init,
    headers: { ...(init.headers as Record<string, string>), connection: "close" },
  });
  return { status: response.status, text: await response.text() };
}

/** The worker processes a primary started. */
function childrenOf(server: RunningBinary): string[] {
  const listed = Bun.spawnSync(["pgrep", "-P", String(server.process.pid)])
    .stdout.toString()
    .trim();
  return listed === "" ? [] : listed.split("\n");
}

const workerOf = async (url: string): Promise<string> =>
  /latchkey_worker_index (\d+)/.exec((await fresh(url, "/metrics")).text)?.[1] ?? "none";

describe.skipIf(!LINUX)(`latchkey serve --workers${LINUX ? "" : " (skipped: needs Linux, for SO_REUSEPORT)"}`, () => {
  const running: RunningBinary[] = [];
  afterEach(async () => {
    for (const server of running.splice(0)) await server.stop();
  });
  async function serve(workers: number, rootKey = generateSecret(ROOT_KEY_PREFIX)) {
    const server = await startBinary(built.path, {
      args: ["--db", built.freshDatabasePath(), "--workers", String(workers)],
      env: { LATCHKEY_ROOT_KEY: rootKey },
    });
    running.push(server);
    // Every worker answers once it has joined the port.
    const seen = new Set<string>();
    const deadline = performance.now() + 10_000;
    while (seen.size < workers && performance.now() < deadline) {
      seen.add(await workerOf(server.url));
      await Bun.sleep(5);
    }
    expect(seen.size).toBe(workers);
    return { server, rootKey };
  }

  test("two processes share one port; a worker that dies is started again", async () => {
    const { server } = await serve(2);
    const [worker] = childrenOf(server);
    expect(worker).toBeDefined();
    process.kill(Number(worker), "SIGKILL");
    let back = false;
    for (let attempt = 0; attempt < 600 && !back; attempt++) {
      const [replaced] = childrenOf(server);
      back = replaced !== undefined && replaced !== worker && (await workerOf(server.url)) === "1";
      if (!back) await Bun.sleep(10);
    }
    expect(back).toBe(true);
    expect(server.stdout() + server.stderr()).toContain('"msg":"worker exited; starting it again"');
  }, 30_000);

  test("a key's bucket is one bucket across the workers: 50 of 300 concurrent requests admitted", async () => {
    const { server, rootKey } = await serve(2);
    const key = await callJson(server.url, "POST", "/v1/keys", {
      key: rootKey,
      body: { name: "limited", scopes: ["runs:read"], ratelimit: { limit: 50, window_seconds: 3600 } },
    });
    const statuses = new Map<number, number>();
    const workers = new Set<string>();
    await Promise.all(
      Array.from({ length: 300 }, async (_, index) => {
        const answer =
          index % 2 === 0
            ? await fresh(server.url, "/v1/authz", { headers: { authorization: `Bearer ${key.body.secret}` } })
            : await fresh(server.url, "/v1/keys/verify", {
                method: "POST",
                headers: { "content-type": "application/json" },
                body: JSON.stringify({ key: key.body.secret }),
              });
        const admitted = answer.status === 200 && !answer.text.includes('"RATE_LIMITED"');
        statuses.set(admitted ? 200 : 429, (statuses.get(admitted ? 200 : 429) ?? 0) + 1);
        if (index % 10 === 0) workers.add(await workerOf(server.url));
      }),
    );
    console.log(`two workers, a bucket of 50: ${JSON.stringify(Object.fromEntries(statuses))}`);
    expect(workers.size).toBe(2);
    expect(statuses.get(200)).toBe(50);
  }, 30_000);

  test("fewer concurrent requests than the bucket holds are all admitted across the workers (20 keys)", async () => {
    const { server, rootKey } = await serve(2);
    const refused: string[] = [];
    for (const { ratelimit, requests } of [
      { ratelimit: undefined, requests: 200 }, // the project's default policy, 1,000 per 60 s
      { ratelimit: { limit: 30, window_seconds: 60 }, requests: 15 },
    ]) {
      for (let trial = 0; trial < 20; trial++) {
        const key = await callJson(server.url, "POST", "/v1/keys", {
          key: rootKey,
          body: { name: "roomy", scopes: ["runs:read"], ratelimit },
        });
        const answers = await Promise.all(
          Array.from({ length: requests }, () =>
            fresh(server.url, "/v1/authz", { headers: { authorization: `Bearer ${key.body.secret}` } }),
          ),
        );
        const notAdmitted = answers.filter((answer) => answer.status !== 200).length;
        if (notAdmitted > 0) refused.push(`${requests} requests, trial ${trial}: ${notAdmitted} refused`);
      }
    }
    expect(refused).toEqual([]);
  }, 60_000);

  test("a revocation through one worker is refused by every worker at once", async () => {
    const { server, rootKey } = await serve(2);
    const key = await callJson(server.url, "POST", "/v1/keys", {
      key: rootKey,
      body: { name: "revoked", scopes: ["runs:read"] },
    });
    const verify = async () =>
      JSON.parse(
        (
          await fresh(server.url, "/v1/keys/verify", {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ key: key.body.secret }),
          })
        ).text,
      ).code as string;
    // Warm on both workers.
    for (let attempt = 0; attempt < 20; attempt++) expect(await verify()).toBe("VALID");
    expect((await callJson(server.url, "DELETE", `/v1/keys/${key.body.id}`, { key: rootKey })).status).toBe(200);
    const started = performance.now();
    const codes = await Promise.all(Array.from({ length: 40 }, verify));
    console.log(
      `revoked: ${codes.filter((code) => code === "API_KEY_REVOKED").length} of 40 refused within ` +
        `${(performance.now() - started).toFixed(0)} ms of the acknowledgement`,
    );
    expect(new Set(codes)).toEqual(new Set(["API_KEY_REVOKED"]));
  }, 30_000);

  test("regression: /readyz said 200 while a worker was starting; it waits for all N and says how many", async () => {
    const server = await startBinary(built.path, {
      args: ["--db", built.freshDatabasePath(), "--workers", "2"],
      env: { LATCHKEY_ROOT_KEY: generateSecret(ROOT_KEY_PREFIX) },
    });
    running.push(server);
    /** Polls /readyz on fresh connections until `wanted` says yes; every answer on the way must be consistent. */
    const readyzUntil = async (wanted: (answer: { status: number; body: any }) => boolean) => {
      for (let attempt = 0; attempt < 1_000; attempt++) {
        // A connection the kernel had queued for the worker just killed is reset: the client tries again.
        const answer = await fresh(server.url, "/readyz").catch((error: { code?: string }) => {
          if (error.code === "ECONNRESET") return null;
          throw error;
        });
        if (answer === null) continue;
        const body = JSON.parse(answer.text);
        if (answer.status === 200) expect(body.workers).toEqual({ listening: 2, expected: 2 });
        else expect(body.error.message).toMatch(/^Not ready: [01] of 2 workers listen on the port\.$/);
        if (wanted({ status: answer.status, body })) return body;
        await Bun.sleep(10);
      }
      throw new Error("/readyz never answered as expected");
    };
    // From the primary's first moment on the port: 503 until the worker listens too, then 200.
    await readyzUntil((answer) => answer.status === 200);
    // A worker that dies is restarted after a second; meanwhile the node is not ready, and says so.
    const [worker] = childrenOf(server);
    process.kill(Number(worker), "SIGKILL");
    const degraded = await readyzUntil((answer) => answer.status === 503);
    expect(degraded.error.message).toBe("Not ready: 1 of 2 workers listen on the port.");
    await readyzUntil((answer) => answer.status === 200);
  }, 30_000);

  test("workers stop when their primary is killed", async () => {
    const { server } = await serve(2);
    const workers = childrenOf(server);
    expect(workers.length).toBe(1);
    await server.kill9();
    running.splice(running.indexOf(server), 1);
    let alive = workers.length;
    for (let attempt = 0; attempt < 500 && alive > 0; attempt++) {
      alive = workers.filter((pid) => {
        try {
          process.kill(Number(pid), 0);
          return true;
        } catch {
          return false;
        }
      }).length;
      if (alive > 0) await Bun.sleep(10);
    }
    expect(alive).toBe(0);
  }, 30_000);

  test("a port in use is refused before any worker starts", async () => {
    const { server } = await serve(1);
    const port = new URL(server.url).port;
    const refused = runBinary(built.path, [
      "serve",
      "--port",
      port,
      "--db",
      built.freshDatabasePath(),
      "--workers",
      "2",
    ]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain("already in use");
  });
});
