/**
 * Starting and stopping a server: open the storage (SQLite, or PostgreSQL with a database URL) and, with a Redis URL,
 * the shared buckets; migrate under the lock; listen; then make sure the defaults exist and print the root key if
 * this start created it. Shared by `latchkey serve` and by tests that need a real port.
 */

import { HEARTBEAT_INTERVAL_MILLISECONDS } from "../auth/change-log.ts";
import { openStorage } from "../db/open.ts";
import { databaseFileWarnings } from "../db/sqlite.ts";
import { isStorageUnavailable } from "../db/unavailable.ts";
import { expireLapsedCliLogins } from "../domain/cli-login/expiry.ts";
import { DAY_MILLISECONDS, pruneKeyUsage } from "../domain/keys/usage.ts";
import type { Limiter } from "../domain/ratelimit/limiter.ts";
import { rotateSigningKeyIfDue } from "../domain/sessions/service.ts";
import { type Bootstrap, ensureDefaults } from "../domain/tenants/bootstrap.ts";
import type { AppDeps } from "../http/app-deps.ts";
import type { Clock } from "../lib/clock.ts";
import { causeFields } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import { createApp, listenApp } from "./app.ts";
import { defaultPublicUrl, runtimeOf, type ServerConfig, storageConfigOf } from "./config.ts";
import { createDeps } from "./deps.ts";
import { VERSION } from "./version.ts";

export interface RunningServer {
  url: string;
  port: number;
  /** What the server is made of (a primary wires its workers' change relays and failure notes into it). */
  deps: AppDeps;
  stop(): Promise<void>;
}

export class PortInUseError extends Error {
  override name = "PortInUseError";
}

export class DatabaseUnreachableError extends Error {
  override name = "DatabaseUnreachableError";
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** How a process of several serving one port starts (src/app/workers.ts); a lone server needs none of it. */
export interface ServerOptions {
  /** Share the port with the other workers (SO_REUSEPORT). */
  reusePort?: boolean;
  /** Buckets shared with the other workers, when there is no Redis; the server closes it when it stops. */
  rateLimiter?: Limiter & { close(): Promise<void> };
  /** 0 for the primary; shown in /metrics. */
  workerIndex?: number;
  /** How many of the processes serving the port listen, as /readyz tells it (src/app/workers.ts keeps it current). */
  workers?: { listening: number; expected: number };
}

export async function startServer(
  config: ServerConfig,
  logger: Logger,
  clock: Clock,
  printOnce: (text: string) => void,
  options: ServerOptions = {},
): Promise<RunningServer> {
  const storageConfig = storageConfigOf(config);
  if (storageConfig.databaseUrl === undefined) {
    for (const warning of databaseFileWarnings(storageConfig.sqlitePath)) logger.warn(warning);
  }
  const storage = await openStorage(storageConfig);
  const rateLimiter =
    config.redisUrl === undefined ? options.rateLimiter : await connectSharedBuckets(config.redisUrl, config, logger);
  let deps: AppDeps;
  try {
    const migrations = await storage.migrate(clock.nowMilliseconds());
    if (migrations.applied.length > 0) logger.info("migrations applied", { applied: migrations.applied.join(",") });
    if (migrations.newer.length > 0) {
      logger.warn("the database was migrated by a newer latchkey; this version runs beside its additive changes", {
        newer_migrations: migrations.newer.join(","),
        version: VERSION,
      });
    }
    const { settings, cacheSizes } = runtimeOf(
      config,
      config.publicUrl ?? defaultPublicUrl(config.host, config.port),
      VERSION,
    );
    deps = await createDeps({
      storage,
      clock,
      logger,
      settings,
      cacheSizes,
      masterKeyText: config.masterKey,
      rateLimiter,
    });
  } catch (error) {
    await rateLimiter?.close();
    await storage.close();
    if (isStorageUnavailable(error)) {
      throw new DatabaseUnreachableError(`cannot reach the database at ${storage.location}: ${describe(error)}`);
    }
    throw error;
  }
  // Said only now: had the keys been sealed, the start would have stopped above with that one error instead. The
  // other workers of the same start would only repeat it.
  if (config.masterKey === undefined && !options.workerIndex) {
    logger.warn(
      "LATCHKEY_MASTER_KEY is not set: the private token-signing keys are stored unsealed in the database; " +
        "set it in production",
    );
  }
  if (options.workers) deps.status.workers = options.workers;
  const app = createApp(deps);
  const release = async () => {
    await deps.changeLog.stop();
    await rateLimiter?.close();
    await storage.close();
  };
  try {
    listenApp(app, deps, { port: config.port, hostname: config.host, reusePort: options.reusePort ?? false });
  } catch (error) {
    await release();
    if ((error as { code?: string }).code === "EADDRINUSE") {
      throw new PortInUseError(`port ${config.port} on ${config.host} is already in use; is latchkey already running?`);
    }
    throw error;
  }
  // Only once the port is ours: a start that cannot serve must not create (and show) a root key nobody can use yet.
  // Until the defaults exist, every request is answered 503 (deps.status.ready).
  let boot: Bootstrap;
  try {
    boot = await ensureDefaults(storage, config.rootKey, clock.nowMilliseconds());
  } catch (error) {
    await app.stop(true);
    await release();
    throw error;
  }
  deps.status.ready = true;
  deps.metrics.workerIndex = options.workerIndex ?? 0;
  if (boot.generatedRootSecret !== null) printOnce(rootKeyBanner(boot.generatedRootSecret, boot.projectId));
  if (boot.configuredRootKeyIgnored) {
    logger.warn("LATCHKEY_ROOT_KEY is not the root key of this database and was ignored; the existing root key stays", {
      root_key_id: boot.rootKeyId,
    });
  }
  const port = app.server!.port!;
  const housekeeping = startHousekeeping(deps, config);
  if (config.publicUrl === undefined) deps.settings.publicUrl = defaultPublicUrl(config.host, port);
  const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
  logger.info("listening", {
    url,
    public_url: deps.settings.publicUrl,
    storage: storage.location,
    shared_buckets: rateLimiter !== undefined,
    version: VERSION,
  });
  return {
    url,
    port,
    deps,
    stop: async () => {
      housekeeping.stop();
      await app.stop();
      await flushUsage(deps);
      await release();
    },
  };
}

/** Buckets shared through Redis; the Redis code is imported only when a URL names it. */
async function connectSharedBuckets(redisUrl: string, config: ServerConfig, logger: Logger) {
  const { SharedRateLimiter } = await import("../domain/ratelimit/shared.ts");
  return SharedRateLimiter.connect(redisUrl, logger, {
    keyPrefix: config.redisKeyPrefix,
    maxBuckets: config.ratelimitBuckets,
  });
}

const SLOW_HOUSEKEEPING_INTERVAL_MILLISECONDS = 60_000;
/** Keys waiting in CLI sessions are wiped within this long after their 60-second window. */
const CLI_LOGIN_EXPIRY_INTERVAL_MILLISECONDS = 10_000;

/**
 * Periodic work off the request path: following the change log (revocations and tenant changes from other
 * processes and nodes) and, on PostgreSQL, the heartbeat that confirms this node in sync; writing usage in batches;
 * expiring CLI logins (and wiping keys nobody collected); pruning the change log, rotating the signing key once it
 * is due and re-reading every project's CORS origins. A task never overlaps itself: a run that is still going skips
 * the next tick.
 */
function startHousekeeping(deps: AppDeps, config: ServerConfig): { stop(): void } {
  const timers: ReturnType<typeof setInterval>[] = [];
  const every = (label: string, intervalMilliseconds: number, work: () => Promise<unknown>) => {
    let running = false;
    const run = () => {
      if (running) return;
      running = true;
      work()
        .catch((error: unknown) => logFailure(deps, label, error))
        .finally(() => {
          running = false;
        });
    };
    const timer = setInterval(run, intervalMilliseconds);
    timer.unref();
    timers.push(timer);
    return run;
  };
  every("change log", config.changePollMilliseconds, () => deps.changeLog.poll());
  every("sync heartbeat", HEARTBEAT_INTERVAL_MILLISECONDS, () => deps.changeLog.heartbeat())();
  every("usage flush", config.usageFlushSeconds * 1000, () => flushUsage(deps));
  every("cli login expiry", CLI_LOGIN_EXPIRY_INTERVAL_MILLISECONDS, () =>
    expireLapsedCliLogins(deps, deps.clock.nowMilliseconds()),
  );
  every("maintenance", SLOW_HOUSEKEEPING_INTERVAL_MILLISECONDS, async () => {
    await deps.changeLog.prune(deps.clock.nowMilliseconds());
    await pruneKeyUsage(deps, deps.clock.nowMilliseconds() - config.usageRetentionDays * DAY_MILLISECONDS);
    await rotateSigningKeyIfDue(deps, deps.clock.nowMilliseconds());
    // A backstop for a project change whose origins could not be re-read when it was heard.
    await deps.origins.load();
  })();
  return {
    stop: () => {
      for (const timer of timers) clearInterval(timer);
    },
  };
}

async function flushUsage(deps: AppDeps): Promise<void> {
  await deps.usage.flush(deps.storage);
}

function logFailure(deps: AppDeps, label: string, error: unknown): void {
  deps.logger.error(`${label} failed`, causeFields(error));
}

function rootKeyBanner(secret: string, defaultProjectId: string): string {
  const rule = "=".repeat(78);
  return [
    rule,
    "  latchkey root key: shown this once. Store it now; only its hash is kept.",
    "",
    `    ${secret}`,
    "",
    "  It manages tenants, projects and keys of every project:",
    "    Authorization: Bearer <root key>",
    `  Default project: ${defaultProjectId}`,
    rule,
  ].join("\n");
}
