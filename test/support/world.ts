/**
 * A test's whole world: a fresh database (SQLite in memory, or a fresh schema of the run's PostgreSQL database, see
 * engines.ts), a manual clock, captured logs, a known root key, and the app built by createApp from those alone.
 * `transport: "http"` puts the same app on a real listening port so a suite can run over both. Every secret the world
 * hands out is remembered, so leak checks can look for it afterwards. A second world can join the first one's database
 * (`joining`), as a second process or node would.
 */
import { join } from "node:path";
import { ALL_ROUTES, createApp, handleInProcess, listenApp } from "../../src/app/app.ts";
import { DEFAULT_CONFIG, runtimeOf } from "../../src/app/config.ts";
import { type CacheSizes, createDeps } from "../../src/app/deps.ts";
import { HEARTBEAT_INTERVAL_MILLISECONDS } from "../../src/auth/change-log.ts";
import type { Storage } from "../../src/db/storage.ts";
import { generateSecret, ROOT_KEY_PREFIX } from "../../src/domain/keys/secret.ts";
import type { Limiter } from "../../src/domain/ratelimit/limiter.ts";
import { SharedRateLimiter } from "../../src/domain/ratelimit/shared.ts";
import { ensureDefaults } from "../../src/domain/tenants/bootstrap.ts";
import type { AppDeps, AppSettings } from "../../src/http/app-deps.ts";
import type { AnyRoute } from "../../src/http/route.ts";
import { createManualClock, type ManualClock } from "../../src/lib/clock.ts";
import { createLogger, type Logger } from "../../src/lib/logger.ts";
import { type DatabasePlace, dropPlace, dumpPlace, freshPlace, openPlace, rawQuery, testRedisUrl } from "./engines.ts";
import { assertNoLeaks, readDatabaseFiles } from "./leaks.ts";
import { makeTempDir } from "./run-binary.ts";

export { assertNoLeaks };

const FIXED_START_MILLISECONDS = Date.parse("2026-01-01T00:00:00.000Z");

export type Transport = "in-process" | "http";

export interface Answer {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

export interface CallOptions {
  key?: string | null;
  body?: unknown;
  rawBody?: RequestInit["body"];
  headers?: Record<string, string>;
}

export interface World {
  /** Where the app answers: a real address with transport "http", a placeholder otherwise. */
  baseUrl: string;
  deps: AppDeps;
  storage: Storage;
  /** Where the database is: another world may join it. */
  place: DatabasePlace;
  clock: ManualClock;
  rootKey: string;
  defaultTenantId: string;
  defaultProjectId: string;
  logLines: string[];
  /** Every secret and token the world was handed; close() fails if any shows up where it must not. */
  handedSecrets: Set<string>;
  /** The text of every error answer, scanned for secrets at close(). */
  errorBodies: string[];
  call(method: string, path: string, options?: CallOptions): Promise<Answer>;
  /** SQL with `?` placeholders on this world's database, whichever the engine. */
  query<Row = Record<string, any>>(text: string, params?: unknown[]): Promise<Row[]>;
  /** Closes the database under the running app (to see how it fails); close() then skips what needs it. */
  closeStorage(): Promise<void>;
  close(): Promise<void>;
}

export interface WorldOptions {
  transport?: Transport;
  /** Run on the real clock, for peers that wait in real time (an OAuth client polling); advancing it then throws. */
  realTime?: boolean;
  /** Keep the database where other worlds can join it: a SQLite file (PostgreSQL schemas always can be). */
  shareable?: boolean;
  /** Open another world's database, as a second process or node would, with its root key; it stays the owner. */
  joining?: World;
  /** Open this place (made by the test, which drops it): a database reached through a proxy the test can cut. */
  place?: DatabasePlace;
  /** The root key to create on first start. */
  rootKey?: string;
  /** SQLite whatever the run's engine: for tests of SQLite's own behaviour (polling the log, its file). */
  engine?: "sqlite";
  /** Buckets in this world's memory even when the run shares them through Redis. */
  localBuckets?: boolean;
  masterKeyText?: string;
  cacheSizes?: Partial<CacheSizes>;
  /** Extra route rows mounted after the real ones (for exercising the pipeline itself). */
  extraRoutes?: readonly AnyRoute[];
  startMilliseconds?: number;
  settings?: Partial<AppSettings>;
}

export async function createWorld(options: WorldOptions = {}): Promise<World> {
  const clock = options.realTime
    ? realTimeClock()
    : createManualClock(options.startMilliseconds ?? FIXED_START_MILLISECONDS);
  let folder: ReturnType<typeof makeTempDir> | undefined;
  let place: DatabasePlace;
  if (options.joining) place = options.joining.place;
  else if (options.place) place = options.place;
  else {
    if (options.shareable) folder = makeTempDir("world");
    place = freshPlace(folder && join(folder.path, "shared.db"), options.engine);
  }
  const storage = openPlace(place);
  await storage.migrate(clock.nowMilliseconds());
  const rootKey = options.rootKey ?? options.joining?.rootKey ?? generateSecret(ROOT_KEY_PREFIX);
  const boot = await ensureDefaults(storage, rootKey, clock.nowMilliseconds());
  const logLines: string[] = [];
  const logger = createLogger("debug", (line) => logLines.push(line));
  const runtime = runtimeOf(DEFAULT_CONFIG, "http://localhost:8787", "test");
  const sizes = { ...runtime.cacheSizes, ...options.cacheSizes };
  const redisUrl = options.localBuckets ? undefined : testRedisUrl();
  const redisPrefix = `latchkey_test:${crypto.randomUUID()}`;
  const rateLimiter: (Limiter & { close(): Promise<void> }) | undefined =
    redisUrl === undefined
      ? undefined
      : await SharedRateLimiter.connect(redisUrl, logger, { keyPrefix: redisPrefix, maxBuckets: sizes.buckets });
  const deps: AppDeps = await createDeps({
    storage,
    clock,
    logger,
    settings: { ...runtime.settings, ...options.settings },
    cacheSizes: sizes,
    masterKeyText: options.masterKeyText,
    rateLimiter,
  });
  deps.status.ready = true;
  const heartbeat = await keepInSync(deps, logger);
  const app = createApp(deps, [...ALL_ROUTES, ...(options.extraRoutes ?? [])]);
  let baseUrl = "http://localhost";
  if (options.transport === "http") {
    listenApp(app, deps, { port: 0, hostname: "127.0.0.1" });
    baseUrl = `http://127.0.0.1:${app.server!.port}`;
  }
  let storageOpen = true;
  const handedSecrets = new Set<string>([rootKey]);
  const errorBodies: string[] = [];

  async function call(method: string, path: string, callOptions: CallOptions = {}): Promise<Answer> {
    const headers: Record<string, string> = { ...callOptions.headers };
    if (callOptions.key) headers.authorization = `Bearer ${callOptions.key}`;
    let body = callOptions.rawBody;
    if (callOptions.body !== undefined) {
      body = JSON.stringify(callOptions.body);
      headers["content-type"] ??= "application/json";
      // As an HTTP client would send it (a Request made in-process carries none of its own).
      headers["content-length"] ??= String(Buffer.byteLength(body));
    }
    const request = new Request(`${baseUrl}${path}`, { method, headers, body });
    // A server's requests arrive through its sockets, so its event loop turns between them (and its heartbeat runs);
    // in-process requests that touch no I/O would otherwise run back to back in one turn.
    if (options.transport !== "http") await new Promise((resolve) => setImmediate(resolve));
    const response = options.transport === "http" ? await fetch(request) : await handleInProcess(app, deps, request);
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    rememberSecrets(parsed, handedSecrets);
    if (response.status >= 400) errorBodies.push(text);
    return { status: response.status, headers: response.headers, body: parsed, text };
  }

  return {
    baseUrl,
    deps,
    storage,
    place,
    clock,
    rootKey,
    defaultTenantId: boot.tenantId,
    defaultProjectId: boot.projectId,
    logLines,
    handedSecrets,
    errorBodies,
    call,
    query: (text, params) => rawQuery(storage, text, params),
    closeStorage: async () => {
      storageOpen = false;
      await storage.close();
    },
    close: async () => {
      clearInterval(heartbeat);
      if (options.transport === "http") await app.stop();
      const places: Record<string, string | Buffer> = {
        logs: logLines.join("\n"),
        "error bodies": errorBodies.join("\n"),
      };
      // A test that closed the database itself (to see the server fail) leaves nothing to flush or read.
      if (storageOpen) {
        await deps.usage.flush(storage);
        places.database =
          place.engine === "sqlite" && place.path !== ":memory:"
            ? readDatabaseFiles(place.path)
            : await dumpPlace(storage);
        await deps.changeLog.stop();
        await storage.close();
      }
      await rateLimiter?.close();
      if (!options.joining && !options.place) {
        await dropPlace(place);
        folder?.remove();
      }
      assertNoLeaks(handedSecrets, places);
    },
  };
}

/**
 * On PostgreSQL a node trusts its caches only while its heartbeats come back (src/auth/change-log.ts): the world
 * beats as a server does, and starts once the first one is back.
 */
async function keepInSync(deps: AppDeps, logger: Logger): Promise<ReturnType<typeof setInterval>> {
  const beat = () =>
    deps.changeLog.heartbeat().catch((error: unknown) => logger.error("heartbeat failed", { error: String(error) }));
  const timer = setInterval(beat, HEARTBEAT_INTERVAL_MILLISECONDS);
  timer.unref();
  if (deps.storage.notify) {
    for (let waited = 0; !deps.changeLog.inSync(); waited += 10) {
      if (waited > 5_000) throw new Error("the world's node never came in sync");
      if (waited % 200 === 0) await beat();
      await Bun.sleep(10);
    }
  }
  return timer;
}

/** Fields whose values are secrets or bearer tokens in latchkey's answers. */
const SECRET_FIELDS = new Set([
  "secret",
  "apiKey",
  "token",
  "sessionToken",
  "access_token",
  "sessionId",
  "device_code",
]);

function rememberSecrets(body: unknown, into: Set<string>): void {
  if (body && typeof body === "object") {
    for (const [field, value] of Object.entries(body)) {
      if (SECRET_FIELDS.has(field) && typeof value === "string" && value.length >= 16) into.add(value);
      else rememberSecrets(value, into);
    }
  }
}

function realTimeClock(): ManualClock {
  const refuse = () => {
    throw new Error("this world runs on the real clock");
  };
  return {
    nowMilliseconds: () => Date.now(),
    advanceMilliseconds: refuse,
    advanceSeconds: refuse,
    setMilliseconds: refuse,
  };
}
