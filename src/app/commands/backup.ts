/** `latchkey backup` and `latchkey restore`: the SQLite file copied out while it serves, and put back. */
import { BackupError, type BackupReport, backupSqlite, restoreSqlite } from "../../db/backup.ts";
import { isEncrypted } from "../../domain/sessions/key-encryption.ts";
import { systemClock } from "../../lib/clock.ts";
import { type ServerConfig, storageConfigOf } from "../config.ts";
import { type CommandContext, EXIT_FAILED, EXIT_OK, EXIT_USAGE, POSTGRES_TOOLS } from "./command.ts";
import { answerFailure, takeOptions, withConfig } from "./kit.ts";

export function backup(args: string[], context: CommandContext): Promise<number> {
  const { values, rest } = takeOptions(args, { to: { type: "string" } });
  return withConfig(rest, context, (config) =>
    onSqlite(config, context, "backup", (sqlitePath) => {
      if (typeof values.to !== "string" || values.to === "") {
        context.stderr("latchkey: backup needs --to FILE: a new file to write the copy to\n");
        return EXIT_USAGE;
      }
      const report = backupSqlite(sqlitePath, values.to, isEncrypted);
      context.stdout(`backed up ${sqlitePath} to ${values.to}: ${describe(report)}\n`);
      return EXIT_OK;
    }),
  );
}

export function restore(args: string[], context: CommandContext): Promise<number> {
  const { values, rest } = takeOptions(args, { from: { type: "string" } });
  return withConfig(rest, context, (config) =>
    onSqlite(config, context, "restore", (sqlitePath) => {
      if (typeof values.from !== "string" || values.from === "") {
        context.stderr("latchkey: restore needs --from FILE: the backup to restore\n");
        return EXIT_USAGE;
      }
      const report = restoreSqlite(values.from, sqlitePath, isEncrypted, systemClock.nowMilliseconds());
      const aside = report.replacedMovedTo === null ? "" : `; the previous file is now ${report.replacedMovedTo}`;
      context.stdout(`restored ${values.from} to ${sqlitePath}: ${describe(report)}${aside}\n`);
      return EXIT_OK;
    }),
  );
}

/** Runs `work` on the configured SQLite file; a database URL or a refused file is answered here. */
async function onSqlite(
  config: ServerConfig,
  context: CommandContext,
  name: string,
  work: (sqlitePath: string) => number,
): Promise<number> {
  const place = storageConfigOf(config);
  if (place.databaseUrl !== undefined) {
    context.stderr(`latchkey: ${name} copies a SQLite file; ${POSTGRES_TOOLS}\n`);
    return EXIT_USAGE;
  }
  try {
    return work(place.sqlitePath);
  } catch (error) {
    return answerFailure(error, context, [[BackupError, EXIT_FAILED]]);
  }
}

function describe(report: BackupReport): string {
  const sealing =
    report.unsealedSigningKeys === 0
      ? "sealed with LATCHKEY_MASTER_KEY"
      : `${report.unsealedSigningKeys} stored in the clear: whoever reads this file can sign session tokens`;
  return `${report.bytes} bytes, ${report.apiKeys} API keys, ${report.signingKeys} signing keys (${sealing})`;
}
