#!/usr/bin/env bun
/**
 * The command line, and the only file that reads the environment: `latchkey serve | migrate | migrate-to | openapi |
 * signing-keys | keygen | version | --help`. Exit codes: 0 success, 1 failure at run time, 2 bad usage or
 * configuration.
 */
import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { createApp } from "./app.ts";
import { SYSTEM_ACTOR } from "./audit/service.ts";
import {
  CONFIG_SETTINGS,
  DEFAULT_CONFIG,
  DEFAULT_SQLITE_PATH,
  loadConfig,
  runtimeOf,
  type ServerConfig,
  storageConfigOf,
  WORKER_INDEX_ENV,
} from "./config.ts";
import { CopyError, copyDatabase } from "./db/copy.ts";
import { MigrationError } from "./db/migrate.ts";
import { openStorage } from "./db/open.ts";
import { PostgresStorage } from "./db/postgres.ts";
import { SqliteStorage } from "./db/sqlite.ts";
import { createDeps } from "./deps.ts";
import { generateSecret, ROOT_KEY_PREFIX } from "./keys/secret.ts";
import { systemClock, toIsoString } from "./lib/clock.ts";
import { createLogger } from "./lib/logger.ts";
import { RedisUnreachableError } from "./ratelimit/shared.ts";
import { DatabaseUnreachableError, PortInUseError, type RunningServer, startServer, VERSION } from "./server.ts";
import { deriveMasterKey, MasterKeyError } from "./sessions/key-encryption.ts";
import {
  DEFAULT_ACTIVATION_LEAD_SECONDS,
  MAX_ACTIVATION_LEAD_SECONDS,
  prepareSigningKeys,
  rotateSigningKey,
  signingKeyStatus,
} from "./sessions/signing-keys.ts";
import { servePrimary, serveWorker } from "./workers.ts";

function describeSetting(setting: (typeof CONFIG_SETTINGS)[number]): string {
  const names = `${(setting.flag ?? "(env only)").padEnd(20)} ${setting.env.padEnd(26)}`;
  return `  ${names} ${setting.defaultText}\n      ${setting.description}`;
}

const HELP = `latchkey ${VERSION}: self-hosted auth for APIs (keys, session tokens, CLI login, verification)

Usage:
  latchkey serve   [flags]   run the server (creates the database, default project and root key on first start)
  latchkey migrate [--db F | --database-url U]
                             apply database migrations and exit
  latchkey migrate-to --database-url U [--from F]
                             copy everything in the SQLite file into an empty PostgreSQL database (servers
                             stopped); then start every node with --database-url U
  latchkey openapi           print the OpenAPI document
  latchkey signing-keys list   [--db F]
  latchkey signing-keys rotate [--db F] [--activate-in-seconds N]
                             show or rotate the token-signing keys (a running server picks changes up within 5 s)
  latchkey keygen            print a new root-key secret, for LATCHKEY_ROOT_KEY
  latchkey version           print the version
  latchkey --help            this text

Settings (flag, environment variable, default):
${CONFIG_SETTINGS.map(describeSetting).join("\n")}
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...flags] = argv;
  switch (command) {
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(HELP);
      return 0;
    case "version":
    case "--version":
      process.stdout.write(`${VERSION}\n`);
      return 0;
    case "keygen":
      process.stdout.write(`${generateSecret(ROOT_KEY_PREFIX)}\n`);
      return 0;
    case "openapi":
      return printOpenApiDocument();
    case "migrate":
      return withConfig(flags, migrate);
    case "migrate-to":
      return migrateTo(flags);
    case "serve":
      return withConfig(flags, (config) => serve(config, flags));
    case "signing-keys":
      return signingKeys(flags);
    default:
      process.stderr.write(`latchkey: unknown command "${command}"\n\n${HELP}`);
      return 2;
  }
}

async function withConfig(flags: string[], run: (config: ServerConfig) => Promise<number>): Promise<number> {
  const result = loadConfig(flags, Bun.env);
  if (!result.ok) {
    process.stderr.write(
      `latchkey: invalid configuration\n${result.problems.map((problem) => `  ${problem}\n`).join("")}`,
    );
    return 2;
  }
  for (const warning of result.warnings) process.stderr.write(`latchkey: ${warning}\n`);
  return run(result.config);
}

async function migrate(config: ServerConfig): Promise<number> {
  const storage = openStorage(storageConfigOf(config));
  try {
    const result = await storage.migrate(systemClock.nowMilliseconds());
    process.stdout.write(
      result.applied.length > 0
        ? `applied ${result.applied.join(", ")}\n`
        : `up to date (${result.alreadyApplied} migrations)\n`,
    );
    return 0;
  } catch (error) {
    if (error instanceof MigrationError) {
      process.stderr.write(`latchkey: ${error.message}\n`);
      return 1;
    }
    throw error;
  } finally {
    await storage.close();
  }
}

/** The SQLite file (--from, or the default file) copied into the PostgreSQL database of --database-url. */
async function migrateTo(argv: string[]): Promise<number> {
  const { values, tokens } = parseArgs({
    args: argv,
    options: { from: { type: "string" } },
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const sqlitePath = typeof values.from === "string" ? values.from : DEFAULT_SQLITE_PATH;
  return withConfig(withoutOption(argv, tokens, "from"), (config) => copyInto(config, sqlitePath));
}

async function copyInto(config: ServerConfig, sqlitePath: string): Promise<number> {
  if (config.databaseUrl === undefined) {
    process.stderr.write("latchkey: migrate-to needs --database-url (or LATCHKEY_DATABASE_URL): where to copy to\n");
    return 2;
  }
  if (!existsSync(sqlitePath)) {
    process.stderr.write(`latchkey: no SQLite database at ${sqlitePath} (give it with --from)\n`);
    return 2;
  }
  const source = SqliteStorage.open(sqlitePath);
  const target = new PostgresStorage(config.databaseUrl);
  try {
    const report = await copyDatabase(source, target, systemClock.nowMilliseconds());
    const copied = Object.entries(report).map(([table, rows]) => `${rows} ${table}`);
    process.stdout.write(`copied ${sqlitePath} to ${target.location}: ${copied.join(", ")}\n`);
    return 0;
  } catch (error) {
    if (error instanceof CopyError || error instanceof MigrationError) {
      process.stderr.write(`latchkey: ${error.message}\n`);
      return 1;
    }
    throw error;
  } finally {
    await source.close();
    await target.close();
  }
}

async function serve(config: ServerConfig, flags: readonly string[]): Promise<number> {
  const logger = createLogger(config.logLevel);
  const printOnce = (text: string) => process.stdout.write(`${text}\n`);
  const workerIndex = Bun.env[WORKER_INDEX_ENV];
  let stopped: () => void = () => {};
  let server: RunningServer;
  try {
    if (workerIndex !== undefined) {
      // The primary that started this worker is gone: nobody would restart or stop it, so it stops.
      const gone = () => {
        logger.warn("the primary process is gone; stopping");
        server.stop().finally(stopped);
      };
      server = await serveWorker(config, Number(workerIndex), logger, systemClock, gone);
    } else if (config.workers > 1) {
      server = await servePrimary(config, flags, logger, systemClock, printOnce);
    } else {
      server = await startServer(config, logger, systemClock, printOnce);
    }
  } catch (error) {
    // Expected start-up failures are one clear line; anything else also names itself, without a source dump.
    const expected =
      error instanceof PortInUseError ||
      error instanceof DatabaseUnreachableError ||
      error instanceof MigrationError ||
      error instanceof MasterKeyError ||
      error instanceof RedisUnreachableError;
    process.stderr.write(
      `latchkey: ${expected ? "" : "failed to start: "}${error instanceof Error ? error.message : String(error)}\n`,
    );
    return 1;
  }
  const running = server;
  await new Promise<void>((resolve) => {
    stopped = resolve;
    const shutdown = (signal: string) => {
      logger.info("shutting down", { signal });
      running.stop().finally(resolve);
    };
    process.once("SIGINT", () => shutdown("SIGINT"));
    process.once("SIGTERM", () => shutdown("SIGTERM"));
  });
  return 0;
}

async function signingKeys(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  if (action !== "list" && action !== "rotate") {
    process.stderr.write(`latchkey: signing-keys needs "list" or "rotate"\n\n${HELP}`);
    return 2;
  }
  // The command's own flag is taken out here; the rest are the server's settings (--db and so on).
  const { values, tokens } = parseArgs({
    args: rest,
    options: { "activate-in-seconds": { type: "string" } },
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const lead = values["activate-in-seconds"];
  const activateInSeconds = lead === undefined ? DEFAULT_ACTIVATION_LEAD_SECONDS : Number(lead);
  if (
    !Number.isInteger(activateInSeconds) ||
    activateInSeconds < 0 ||
    activateInSeconds > MAX_ACTIVATION_LEAD_SECONDS
  ) {
    process.stderr.write(
      `latchkey: --activate-in-seconds: must be an integer from 0 to ${MAX_ACTIVATION_LEAD_SECONDS}\n`,
    );
    return 2;
  }
  const settings = withoutOption(rest, tokens, "activate-in-seconds");
  return withConfig(settings, async (config) => {
    const storage = openStorage(storageConfigOf(config));
    try {
      const now = systemClock.nowMilliseconds();
      await storage.migrate(now);
      const masterKey = config.masterKey === undefined ? null : await deriveMasterKey(config.masterKey);
      const ring = await prepareSigningKeys(storage, masterKey, SYSTEM_ACTOR, now);
      if (action === "rotate") {
        const rotation = await rotateSigningKey(storage, ring, masterKey, SYSTEM_ACTOR, activateInSeconds, now);
        process.stdout.write(`rotated: ${rotation!.kid} signs from ${toIsoString(rotation!.activatesAtMs)}\n`);
      }
      for (const key of await ring.schedule(systemClock.nowMilliseconds())) {
        const status = signingKeyStatus(key, now);
        process.stdout.write(`${key.kid}  ${status.padEnd(7)}  activates ${toIsoString(key.activatesAtMs)}\n`);
      }
      return 0;
    } catch (error) {
      if (error instanceof MasterKeyError) {
        process.stderr.write(`latchkey: ${error.message}\n`);
        return 1;
      }
      throw error;
    } finally {
      await storage.close();
    }
  });
}

/** The arguments without one option and its value, as parseArgs' tokens place them. */
function withoutOption(args: string[], tokens: ReturnType<typeof parseArgs>["tokens"], name: string): string[] {
  const dropped = new Set<number>();
  for (const token of tokens ?? []) {
    if (token.kind !== "option" || token.name !== name) continue;
    dropped.add(token.index);
    if (token.inlineValue === false) dropped.add(token.index + 1);
  }
  return args.filter((_, index) => !dropped.has(index));
}

async function printOpenApiDocument(): Promise<number> {
  const storage = SqliteStorage.open(":memory:");
  await storage.migrate(systemClock.nowMilliseconds());
  const deps = await createDeps({
    storage,
    clock: systemClock,
    logger: createLogger("silent"),
    ...runtimeOf(DEFAULT_CONFIG, "http://localhost:8787", VERSION),
  });
  deps.status.ready = true;
  const app = createApp(deps);
  const response = await app.handle(new Request("http://localhost/openapi.json"));
  process.stdout.write(`${JSON.stringify(await response.json(), null, 2)}\n`);
  return 0;
}

// `latchkey openapi | head`: a reader that stops early is not a failure worth a stack trace.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code !== "EPIPE") throw error;
  process.exit(process.exitCode ?? 0);
});

process.exitCode = await main(process.argv.slice(2));
