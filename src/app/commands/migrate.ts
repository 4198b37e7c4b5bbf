/** `latchkey migrate` and `migrate-to`: preparing a database, and moving a SQLite file's contents to PostgreSQL. */
import { existsSync } from "node:fs";
import { CopyError, copyDatabase } from "../../db/copy.ts";
import { MigrationError } from "../../db/migrate.ts";
import { openStorage } from "../../db/open.ts";
import { SqliteStorage } from "../../db/sqlite.ts";
import { systemClock } from "../../lib/clock.ts";
import { type ServerConfig, storageConfigOf } from "../config.ts";
import { DEFAULT_SQLITE_PATH } from "../names.ts";
import { type CommandContext, EXIT_FAILED, EXIT_OK, EXIT_USAGE } from "./command.ts";
import { answerFailure, takeOptions, withConfig } from "./kit.ts";

export function migrate(args: string[], context: CommandContext): Promise<number> {
  return withConfig(args, context, (config) => migrateStorage(config, context));
}

export function migrateTo(args: string[], context: CommandContext): Promise<number> {
  const { values, rest } = takeOptions(args, { from: { type: "string" } });
  const sqlitePath = typeof values.from === "string" ? values.from : DEFAULT_SQLITE_PATH;
  return withConfig(rest, context, (config) => copyInto(config, sqlitePath, context));
}

async function migrateStorage(config: ServerConfig, context: CommandContext): Promise<number> {
  const storage = await openStorage(storageConfigOf(config));
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
  const { PostgresStorage } = await import("../../db/postgres.ts");
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
