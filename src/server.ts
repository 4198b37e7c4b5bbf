/**
 * Starting and stopping a server: open the file, migrate under the lock, make sure the defaults exist, print the
 * root key if this start created it, listen. Shared by `latchkey serve` and by tests that need a real port.
 */
import { createApp } from "./app.ts";
import { defaultPublicUrl, type ServerConfig } from "./config.ts";
import { openDatabase } from "./db/client.ts";
import { applyMigrations } from "./db/migrate.ts";
import { type AppDeps, createDeps } from "./deps.ts";
import { rotateSigningKeyIfDue } from "./sessions/service.ts";
import type { Clock } from "./lib/clock.ts";
import type { Logger } from "./lib/logger.ts";
import { ensureDefaults } from "./tenants/bootstrap.ts";
import packageJson from "../package.json" with { type: "json" };

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
  const migrations = applyMigrations(sqlite, clock.nowMilliseconds());
  if (migrations.applied.length > 0) logger.info("migrations applied", { applied: migrations.applied.join(",") });
  const boot = ensureDefaults(db, config.rootKey, clock.nowMilliseconds());
  if (boot.generatedRootSecret !== null) printOnce(rootKeyBanner(boot.generatedRootSecret, boot.projectId));
  if (boot.configuredRootKeyIgnored) {
    logger.warn("LATCHKEY_ROOT_KEY is not the root key of this database and was ignored; the existing root key stays", {
      root_key_id: boot.rootKeyId,
    });
  }
  const settings = {
    publicUrl: config.publicUrl ?? defaultPublicUrl(config.host, config.port),
    bodyLimitBytes: config.bodyLimitBytes,
    version: VERSION,
    signingKeyRotationDays: config.signingKeyRotationDays,
  };
  let deps: AppDeps;
  try {
    deps = await createDeps({ db, sqlite, clock, logger, settings, masterKeyText: config.masterKey });
  } catch (error) {
    sqlite.close();
    throw error;
  }
  const app = createApp(deps);
  try {
    app.listen({ port: config.port, hostname: config.host, reusePort: false });
  } catch (error) {
    sqlite.close();
    if ((error as { code?: string }).code === "EADDRINUSE") {
      throw new PortInUseError(`port ${config.port} on ${config.host} is already in use; is latchkey already running?`);
    }
    throw error;
  }
  const port = app.server!.port!;
  const housekeeping = startHousekeeping(deps);
  if (config.publicUrl === undefined) settings.publicUrl = defaultPublicUrl(config.host, port);
  const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
  logger.info("listening", { url, public_url: settings.publicUrl, db: config.db, version: VERSION });
  return {
    url,
    port,
    stop: async () => {
      clearInterval(housekeeping);
      await app.stop();
      sqlite.close();
    },
  };
}

const HOUSEKEEPING_INTERVAL_MILLISECONDS = 60_000;

/** Periodic work off the request path: rotating the signing key once it is due. */
function startHousekeeping(deps: AppDeps): ReturnType<typeof setInterval> {
  const run = () => {
    rotateSigningKeyIfDue(deps, deps.clock.nowMilliseconds()).catch((error: unknown) =>
      deps.logger.error("signing-key rotation failed", { error: error instanceof Error ? error.message : String(error) }),
    );
  };
  run();
  const timer = setInterval(run, HOUSEKEEPING_INTERVAL_MILLISECONDS);
  timer.unref();
  return timer;
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
