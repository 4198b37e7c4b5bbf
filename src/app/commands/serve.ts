/** `latchkey serve`, `migrate` and `migrate-to`: running the server and preparing its database. */
import { existsSync } from "node:fs";
import { CopyError, copyDatabase } from "../../db/copy.ts";
import { MigrationError } from "../../db/migrate.ts";
import { openStorage } from "../../db/open.ts";
import { PostgresStorage } from "../../db/postgres.ts";
import { SqliteStorage } from "../../db/sqlite.ts";
import { RedisUnreachableError } from "../../domain/ratelimit/shared.ts";
import { MasterKeyError } from "../../domain/sessions/key-encryption.ts";
import { systemClock } from "../../lib/clock.ts";
import { createLogger } from "../../lib/logger.ts";
import { DEFAULT_SQLITE_PATH, type ServerConfig, storageConfigOf, WORKER_INDEX_ENV } from "../config.ts";
import { DatabaseUnreachableError, PortInUseError, type RunningServer, startServer } from "../server.ts";
import { servePrimary, serveWorker } from "../workers.ts";
import {
  answerFailure,
  type Command,
  type CommandContext,
  EXIT_FAILED,
  EXIT_OK,
  EXIT_USAGE,
  takeOptions,
  withConfig,
} from "./command.ts";

const STORAGE_SETTINGS = ["db", "databaseUrl"] as const;

export const serveCommand: Command = {
  name: "serve",
  usage: ["serve [flags]"],
  summary: "run the server (creates the database, default project and root key on first start)",
  details: [
    "Stops with exit 2 when a setting is wrong, or when the signing keys are sealed and LATCHKEY_MASTER_KEY is\n" +
      "missing or not the key that sealed them; with exit 1 when the port, the database or Redis cannot be used.",
  ],
  settings: "all",
  run: (args, context) => withConfig(args, context, (config) => serve(config, args, context)),
};

export const migrateCommand: Command = {
  name: "migrate",
  usage: ["migrate [--db F | --database-url U]"],
  summary: "apply the database migrations this binary carries, and exit",
  settings: STORAGE_SETTINGS,
  run: (args, context) => withConfig(args, context, (config) => migrate(config, context)),
};

export const migrateToCommand: Command = {
  name: "migrate-to",
  usage: ["migrate-to --database-url U [--from F]"],
  summary: "copy everything in a SQLite file into an empty PostgreSQL database",
  details: [
    "Run it with the servers stopped (nothing may be written to the file meanwhile), then start every node with\n" +
      `--database-url U. --from F: the SQLite file to copy (default ${DEFAULT_SQLITE_PATH}). ` +
      "Signing keys stay sealed under\nthe same LATCHKEY_MASTER_KEY.",
  ],
  settings: ["databaseUrl"],
  run: (args, context) => {
    const { values, rest } = takeOptions(args, { from: { type: "string" } });
    const sqlitePath = typeof values.from === "string" ? values.from : DEFAULT_SQLITE_PATH;
    return withConfig(rest, context, (config) => copyInto(config, sqlitePath, context));
  },
};

async function migrate(config: ServerConfig, context: CommandContext): Promise<number> {
  const storage = openStorage(storageConfigOf(config));
  try {
    const result = await storage.migrate(systemClock.nowMilliseconds());
    context.stdout(
      result.applied.length > 0
        ? `applied ${result.applied.join(", ")}\n`
        : `up to date (${result.alreadyApplied} migrations)\n`,
    );
    return EXIT_OK;
  } catch (error) {
    return answerFailure(error, context, [[MigrationError, EXIT_FAILED]]);
  } finally {
    await storage.close();
  }
}

async function copyInto(config: ServerConfig, sqlitePath: string, context: CommandContext): Promise<number> {
  if (config.databaseUrl === undefined) {
    context.stderr("latchkey: migrate-to needs --database-url (or LATCHKEY_DATABASE_URL): where to copy to\n");
    return EXIT_USAGE;
  }
  if (!existsSync(sqlitePath)) {
    context.stderr(`latchkey: no SQLite database at ${sqlitePath} (give it with --from)\n`);
    return EXIT_USAGE;
  }
  const source = SqliteStorage.open(sqlitePath);
  const target = new PostgresStorage(config.databaseUrl);
  try {
    const report = await copyDatabase(source, target, systemClock.nowMilliseconds());
    const copied = Object.entries(report).map(([table, rows]) => `${rows} ${table}`);
    context.stdout(`copied ${sqlitePath} to ${target.location}: ${copied.join(", ")}\n`);
    return EXIT_OK;
  } catch (error) {
    return answerFailure(error, context, [
      [CopyError, EXIT_FAILED],
      [MigrationError, EXIT_FAILED],
    ]);
  } finally {
    await source.close();
    await target.close();
  }
}

async function serve(config: ServerConfig, flags: readonly string[], context: CommandContext): Promise<number> {
  const logger = createLogger(config.logLevel);
  const printOnce = (text: string) => context.stdout(`${text}\n`);
  const workerIndex = context.env[WORKER_INDEX_ENV];
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
    const message = error instanceof Error ? error.message : String(error);
    // A missing or wrong master key is configuration, like a bad setting: one line, exit 2.
    if (error instanceof MasterKeyError) {
      context.stderr(`latchkey: ${message}\n`);
      return EXIT_USAGE;
    }
    // Expected start-up failures are one clear line; anything else also names itself, without a source dump.
    const expected =
      error instanceof PortInUseError ||
      error instanceof DatabaseUnreachableError ||
      error instanceof MigrationError ||
      error instanceof RedisUnreachableError;
    context.stderr(`latchkey: ${expected ? "" : "failed to start: "}${message}\n`);
    return EXIT_FAILED;
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
  return EXIT_OK;
}
