/**
 * Starting and stopping a server: open the file, migrate under the lock, listen, then make sure the defaults exist
 * and print the root key if this start created it. Shared by `latchkey serve` and by tests that need a real port.
 */

import packageJson from "../package.json" with { type: "json" };
import { createApp, listenApp } from "./app.ts";
import { expireLapsedCliLogins } from "./cli-login/expiry.ts";
import { defaultPublicUrl, runtimeOf, type ServerConfig } from "./config.ts";
import { databaseFileWarnings, openDatabase } from "./db/client.ts";
import { applyMigrations } from "./db/migrate.ts";
import { createDeps } from "./deps.ts";
import type { AppDeps } from "./http/app-deps.ts";
import type { Clock } from "./lib/clock.ts";
import type { Logger } from "./lib/logger.ts";
import { rotateSigningKeyIfDue } from "./sessions/service.ts";
import { ensureDefaults } from "./tenants/bootstrap.ts";

export const VERSION: string = packageJson.version;

export interface RunningServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export class PortInUseError extends Error {
  override name = "PortInUseError";
}

export async function startServer(
  config: ServerConfig,
  logger: Logger,
  clock: Clock,
  printOnce: (text: string) => void,
): Promise<RunningServer> {
  const { db, sqlite } = openDatabase(config.db);
  for (const warning of databaseFileWarnings(config.db)) logger.warn(warning);
  if (config.masterKey === undefined) {
    logger.warn(
      "LATCHKEY_MASTER_KEY is not set: the private token-signing keys are stored unsealed in the database; " +
        "set it in production",
    );
  }
  const migrations = applyMigrations(sqlite, clock.nowMilliseconds());
  if (migrations.applied.length > 0) logger.info("migrations applied", { applied: migrations.applied.join(",") });
  const { settings, cacheSizes } = runtimeOf(
    config,
    config.publicUrl ?? defaultPublicUrl(config.host, config.port),
    VERSION,
  );
  let deps: AppDeps;
  try {
    deps = await createDeps({ db, sqlite, clock, logger, settings, cacheSizes, masterKeyText: config.masterKey });
  } catch (error) {
    sqlite.close();
    throw error;
  }
  const app = createApp(deps);
  try {
    listenApp(app, deps, { port: config.port, hostname: config.host });
  } catch (error) {
    sqlite.close();
    if ((error as { code?: string }).code === "EADDRINUSE") {
      throw new PortInUseError(`port ${config.port} on ${config.host} is already in use; is latchkey already running?`);
    }
    throw error;
  }
  // Only once the port is ours: a start that cannot serve must not create (and show) a root key nobody can use yet.
  // Nothing is answered in between, because this runs to completion before the event loop takes a request.
  let boot: ReturnType<typeof ensureDefaults>;
  try {
    boot = ensureDefaults(db, config.rootKey, clock.nowMilliseconds());
  } catch (error) {
    await app.stop(true);
    sqlite.close();
    throw error;
  }
  if (boot.generatedRootSecret !== null) printOnce(rootKeyBanner(boot.generatedRootSecret, boot.projectId));
  if (boot.configuredRootKeyIgnored) {
    logger.warn("LATCHKEY_ROOT_KEY is not the root key of this database and was ignored; the existing root key stays", {
      root_key_id: boot.rootKeyId,
    });
  }
  const port = app.server!.port!;
  const housekeeping = startHousekeeping(deps, config);
  if (config.publicUrl === undefined) settings.publicUrl = defaultPublicUrl(config.host, port);
  const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
  logger.info("listening", { url, public_url: settings.publicUrl, db: config.db, version: VERSION });
  return {
    url,
    port,
    stop: async () => {
      for (const timer of housekeeping) clearInterval(timer);
      await app.stop();
      flushUsage(deps);
      sqlite.close();
    },
  };
}

const SLOW_HOUSEKEEPING_INTERVAL_MILLISECONDS = 60_000;
/** Keys waiting in CLI sessions are wiped within this long after their 60-second window. */
const CLI_LOGIN_EXPIRY_INTERVAL_MILLISECONDS = 10_000;

/**
 * Periodic work off the request path: following the change log (revocations and tenant changes from other
 * processes), writing usage in batches, expiring CLI login sessions (and wiping keys nobody collected), pruning the
 * change log and rotating the signing key once it is due.
 */
function startHousekeeping(deps: AppDeps, config: ServerConfig): ReturnType<typeof setInterval>[] {
  const guarded = (label: string, work: () => unknown) => () => {
    try {
      const result = work();
      if (result instanceof Promise) result.catch((error: unknown) => logFailure(deps, label, error));
    } catch (error) {
      logFailure(deps, label, error);
    }
  };
  const timers = [
    setInterval(
      guarded("change log", () => deps.changeLog.poll()),
      config.changePollMilliseconds,
    ),
    setInterval(
      guarded("usage flush", () => flushUsage(deps)),
      config.usageFlushSeconds * 1000,
    ),
    setInterval(
      guarded("cli login expiry", () => expireLapsedCliLogins(deps, deps.clock.nowMilliseconds())),
      CLI_LOGIN_EXPIRY_INTERVAL_MILLISECONDS,
    ),
    setInterval(
      guarded("maintenance", () => {
        deps.changeLog.prune(deps.clock.nowMilliseconds());
        return rotateSigningKeyIfDue(deps, deps.clock.nowMilliseconds());
      }),
      SLOW_HOUSEKEEPING_INTERVAL_MILLISECONDS,
    ),
  ];
  guarded("signing-key rotation", () => rotateSigningKeyIfDue(deps, deps.clock.nowMilliseconds()))();
  for (const timer of timers) timer.unref();
  return timers;
}

function flushUsage(deps: AppDeps): void {
  deps.usage.flush(deps.db);
}

function logFailure(deps: AppDeps, label: string, error: unknown): void {
  deps.logger.error(`${label} failed`, { error: error instanceof Error ? error.message : String(error) });
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
