/**
 * A test's whole world: a fresh in-memory database, a manual clock, captured logs, a known root key, and the app
 * built by createApp from those alone. `transport: "http"` puts the same app on a real listening port so a suite can
 * run over both. Every secret the world hands out is remembered, so leak checks can look for it afterwards.
 */
import { assertNoLeaks, readDatabaseFiles } from "../../scripts/lib/leaks.ts";
import { ALL_ROUTES, createApp, handleInProcess, listenApp } from "../../src/app.ts";
import { DEFAULT_CONFIG, runtimeOf } from "../../src/config.ts";
import { openDatabase } from "../../src/db/client.ts";
import { applyMigrations } from "../../src/db/migrate.ts";
import { type CacheSizes, createDeps } from "../../src/deps.ts";
import type { AppDeps, AppSettings } from "../../src/http/app-deps.ts";
import type { AnyRoute } from "../../src/http/route.ts";
import { generateSecret, ROOT_KEY_PREFIX } from "../../src/keys/secret.ts";
import { createManualClock, type ManualClock } from "../../src/lib/clock.ts";
import { createLogger } from "../../src/lib/logger.ts";
import { ensureDefaults } from "../../src/tenants/bootstrap.ts";

export { assertNoLeaks };

export const FIXED_START_MILLISECONDS = Date.parse("2026-01-01T00:00:00.000Z");

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
  close(): Promise<void>;
}

export interface WorldOptions {
  transport?: Transport;
  /** Run on the real clock, for peers that wait in real time (an OAuth client polling); advancing it then throws. */
  realTime?: boolean;
  /** A database file shared with other worlds (another "process"); in memory when omitted. */
  databasePath?: string;
  /** The root key to create on first start (a second world on the same file passes the first one's). */
  rootKey?: string;
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
  const { db, sqlite } = openDatabase(options.databasePath ?? ":memory:");
  applyMigrations(sqlite, clock.nowMilliseconds());
  const rootKey = options.rootKey ?? generateSecret(ROOT_KEY_PREFIX);
  const boot = ensureDefaults(db, rootKey, clock.nowMilliseconds());
  const logLines: string[] = [];
  const runtime = runtimeOf(DEFAULT_CONFIG, "http://localhost:8787", "test");
  const deps: AppDeps = await createDeps({
    db,
    sqlite,
    clock,
    logger: createLogger("debug", (line) => logLines.push(line)),
    settings: { ...runtime.settings, ...options.settings },
    cacheSizes: { ...runtime.cacheSizes, ...options.cacheSizes },
    masterKeyText: options.masterKeyText,
  });
  const app = createApp(deps, [...ALL_ROUTES, ...(options.extraRoutes ?? [])]);
  let baseUrl = "http://localhost";
  if (options.transport === "http") {
    listenApp(app, deps, { port: 0, hostname: "127.0.0.1" });
    baseUrl = `http://127.0.0.1:${app.server!.port}`;
  }
  const handedSecrets = new Set<string>([rootKey]);
  const errorBodies: string[] = [];

  async function call(method: string, path: string, callOptions: CallOptions = {}): Promise<Answer> {
    const headers: Record<string, string> = { ...callOptions.headers };
    if (callOptions.key) headers.authorization = `Bearer ${callOptions.key}`;
    let body = callOptions.rawBody;
    if (callOptions.body !== undefined) {
      body = JSON.stringify(callOptions.body);
      headers["content-type"] ??= "application/json";
    }
    const request = new Request(`${baseUrl}${path}`, { method, headers, body });
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
    clock,
    rootKey,
    defaultTenantId: boot.tenantId,
    defaultProjectId: boot.projectId,
    logLines,
    handedSecrets,
    errorBodies,
    call,
    close: async () => {
      if (options.transport === "http") await app.stop();
      const places: Record<string, string | Buffer> = {
        logs: logLines.join("\n"),
        "error bodies": errorBodies.join("\n"),
      };
      // A test that closed the database itself (to see the server fail) leaves nothing to flush or read.
      if (databaseStillOpen(sqlite)) {
        deps.usage.flush(deps.db);
        places.database = options.databasePath
          ? readDatabaseFiles(options.databasePath)
          : Buffer.from(sqlite.serialize());
        sqlite.close();
      }
      assertNoLeaks(handedSecrets, places);
    },
  };
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

function databaseStillOpen(sqlite: { query(sql: string): { get(): unknown } }): boolean {
  try {
    sqlite.query("SELECT 1").get();
    return true;
  } catch (error) {
    if (error instanceof RangeError) return false;
    throw error;
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
