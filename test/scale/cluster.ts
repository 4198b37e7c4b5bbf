/**
 * Several latchkey nodes (the compiled binary, one process each) on loopback, sharing one PostgreSQL schema of the
 * run's database and one Redis key prefix: what a team with sidecars on several hosts runs. The multi-node tests run
 * in the PostgreSQL + Redis pass (LATCHKEY_TEST_POSTGRES_URL and LATCHKEY_TEST_REDIS_URL); on SQLite they say so and
 * skip.
 */
import pg from "pg";
import { generateSecret, ROOT_KEY_PREFIX } from "../../src/domain/keys/secret.ts";
import { type DatabasePlace, dropPlace, freshPlace, placeUrl, testEngine, testRedisUrl } from "../support/engines.ts";
import { type RunningBinary, startBinary } from "../support/run-binary.ts";

export const SCALE_ENABLED = testEngine() === "postgres" && testRedisUrl() !== undefined;
/** Appended to the title of every multi-node block, so a skipped one says why. */
export const SCALE_NOTE = SCALE_ENABLED
  ? "(3 nodes, PostgreSQL + Redis)"
  : "(skipped: multi-node tests run in the PostgreSQL + Redis pass, LATCHKEY_TEST_POSTGRES_URL and _REDIS_URL)";

export interface Answer {
  status: number;
  body: any;
  headers: Headers;
}

export interface CallOptions {
  key?: string;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface ClusterOptions {
  nodes?: number;
  /** Redis for the nodes' buckets (a private server in fault tests); the run's Redis by default. */
  redisUrl?: string;
  /** The database URL node `index` is given (fault tests put a proxy in front of one node). */
  databaseUrlFor?: (index: number, url: string) => string;
  env?: Record<string, string>;
}

export class Cluster {
  readonly nodes: (RunningBinary | null)[] = [];
  readonly rootKey = generateSecret(ROOT_KEY_PREFIX);
  readonly redisPrefix = `latchkey_scale_${crypto.randomUUID().slice(0, 8)}`;
  readonly databaseUrl: string;
  private readonly admin: pg.Pool;

  private constructor(
    readonly binary: string,
    readonly place: DatabasePlace & { engine: "postgres" },
    private readonly options: ClusterOptions,
  ) {
    this.databaseUrl = placeUrl(place);
    this.admin = new pg.Pool({ connectionString: place.url, max: 2, options: `-c search_path=${place.schema}` });
    this.admin.on("error", () => {});
  }

  /** Starts every node at the same moment on an empty database, as an orchestrator would. */
  static async start(binary: string, options: ClusterOptions = {}): Promise<Cluster> {
    const place = freshPlace(undefined, "postgres");
    if (place.engine !== "postgres") throw new Error("multi-node tests need the PostgreSQL pass");
    const cluster = new Cluster(binary, place, options);
    const count = options.nodes ?? 3;
    try {
      await Promise.all(Array.from({ length: count }, (_, index) => cluster.startNode(index)));
    } catch (error) {
      await cluster.close();
      throw error;
    }
    return cluster;
  }

  async startNode(index: number): Promise<RunningBinary> {
    const databaseUrl = this.options.databaseUrlFor?.(index, this.databaseUrl) ?? this.databaseUrl;
    const node = await startBinary(this.binary, {
      args: [
        "--database-url",
        databaseUrl,
        "--redis-url",
        this.options.redisUrl ?? testRedisUrl()!,
        "--redis-key-prefix",
        this.redisPrefix,
      ],
      env: { LATCHKEY_ROOT_KEY: this.rootKey, ...this.options.env },
      readyTimeoutMilliseconds: 30_000,
    });
    this.nodes[index] = node;
    return node;
  }

  url(index: number): string {
    const node = this.nodes[index];
    if (!node) throw new Error(`node ${index} is not running`);
    return node.url;
  }

  async call(index: number, method: string, path: string, options: CallOptions = {}): Promise<Answer> {
    const response = await fetch(`${this.url(index)}${path}`, {
      method,
      headers: {
        ...(options.key ? { authorization: `Bearer ${options.key}` } : {}),
        ...(options.body !== undefined ? { "content-type": "application/json" } : {}),
        ...options.headers,
      },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {}
    return { status: response.status, body, headers: response.headers };
  }

  /** `POST /v1/keys/verify` on a node: the verification code it answers. */
  async verifyCode(index: number, secret: string): Promise<string> {
    return (await this.call(index, "POST", "/v1/keys/verify", { body: { key: secret } })).body.code;
  }

  async createKey(index: number, body: Record<string, unknown> = {}): Promise<{ id: string; secret: string }> {
    const answer = await this.call(index, "POST", "/v1/keys", {
      key: this.rootKey,
      body: { name: "scale", scopes: ["runs:read", "runs:write"], ...body },
    });
    if (answer.status !== 200) throw new Error(`creating a key: ${answer.status} ${JSON.stringify(answer.body)}`);
    return { id: answer.body.id, secret: answer.body.secret };
  }

  /** SQL on the cluster's schema. */
  async query<Row extends pg.QueryResultRow = Record<string, unknown>>(text: string, values: unknown[] = []) {
    return (await this.admin.query<Row>(text, values)).rows;
  }

  /** Terminates every connection the nodes hold to the database (their pools and their LISTEN connections). */
  async terminateConnections(): Promise<number> {
    const rows = await this.query<{ terminated: boolean }>(
      `SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity
       WHERE datname = current_database() AND application_name = 'latchkey' AND pid <> pg_backend_pid()`,
    );
    return rows.filter((row) => row.terminated).length;
  }

  async metric(index: number, name: string): Promise<number> {
    const text = (await this.call(index, "GET", "/metrics")).body as string;
    const line = text.split("\n").find((candidate) => candidate.startsWith(`${name} `));
    return line === undefined ? Number.NaN : Number(line.slice(name.length + 1));
  }

  async close(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node?.stop().catch(() => {})));
    await this.admin.end().catch(() => {});
    await dropPlace(this.place);
  }
}

/** Waits until `check` holds, polling; returns how long that took, or throws after `timeoutMilliseconds`. */
export async function waitUntil(
  check: () => Promise<boolean>,
  timeoutMilliseconds: number,
  what: string,
): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await check()) return performance.now() - started;
    if (performance.now() - started > timeoutMilliseconds)
      throw new Error(`${what}: not within ${timeoutMilliseconds} ms`);
    await Bun.sleep(5);
  }
}

/** The p-th percentile (0..100) of some figures. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((left, right) => left - right);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}
