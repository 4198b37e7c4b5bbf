/**
 * Applies the embedded migrations. Many processes may start at once on a fresh file, so the whole check-and-apply
 * runs inside BEGIN IMMEDIATE (one writer at a time) and re-reads what is applied after taking the lock. A migration
 * whose text changed after it was applied, or a database migrated by a newer latchkey, stops the start with a clear
 * message rather than guessing.
 */
import type { Database } from "bun:sqlite";
import { sha256Hex } from "../lib/crypto.ts";
import { readMigrationsAtBuildTime } from "./embedded-migrations.ts" with { type: "macro" };
import type { EmbeddedMigration } from "./embedded-migrations.ts";

export const EMBEDDED_MIGRATIONS: EmbeddedMigration[] = readMigrationsAtBuildTime();

const STATEMENT_BREAKPOINT = "--> statement-breakpoint";

export class MigrationError extends Error {
  override name = "MigrationError";
}

export interface MigrationResult {
  applied: string[];
  alreadyApplied: number;
}

export function applyMigrations(
  sqlite: Database,
  nowMilliseconds: number,
  migrations: EmbeddedMigration[] = EMBEDDED_MIGRATIONS,
): MigrationResult {
  const known = new Map(migrations.map((migration) => [migration.tag, sha256Hex(migration.sql)]));
  const run = sqlite.transaction(() => {
    sqlite.run(
      "CREATE TABLE IF NOT EXISTS latchkey_migrations " +
        "(tag TEXT PRIMARY KEY NOT NULL, sha256 TEXT NOT NULL, applied_at_ms INTEGER NOT NULL)",
    );
    const appliedRows = sqlite.query("SELECT tag, sha256 FROM latchkey_migrations").all() as {
      tag: string;
      sha256: string;
    }[];
    for (const row of appliedRows) {
      const expected = known.get(row.tag);
      if (expected === undefined) {
        throw new MigrationError(
          `the database was migrated by a newer latchkey (unknown migration ${row.tag}); upgrade this binary`,
        );
      }
      if (expected !== row.sha256) {
        throw new MigrationError(`migration ${row.tag} changed after it was applied; restore the original file`);
      }
    }
    const appliedTags = new Set(appliedRows.map((row) => row.tag));
    const applied: string[] = [];
    for (const migration of migrations) {
      if (appliedTags.has(migration.tag)) continue;
      for (const statement of migration.sql.split(STATEMENT_BREAKPOINT)) {
        if (statement.trim() !== "") sqlite.run(statement);
      }
      sqlite.run("INSERT INTO latchkey_migrations (tag, sha256, applied_at_ms) VALUES (?, ?, ?)", [
        migration.tag,
        known.get(migration.tag)!,
        nowMilliseconds,
      ]);
      applied.push(migration.tag);
    }
    return { applied, alreadyApplied: appliedRows.length };
  });
  return run.immediate();
}
