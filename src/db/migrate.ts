/**
 * The embedded migrations of each dialect, and the rule every driver applies them by. Many processes (or nodes) may
 * start at once on a fresh database, so each driver runs the whole check-and-apply under one lock and re-reads what is
 * applied after taking it. A migration whose text changed after it was applied, or a database migrated by a newer
 * latchkey, stops the start with a clear message rather than guessing.
 */
import { sha256Hex } from "../lib/crypto.ts";
import { readMigrationsAtBuildTime } from "./embedded-migrations.ts" with { type: "macro" };
import type { EmbeddedMigration } from "./embedded-migrations.ts";

export const SQLITE_MIGRATIONS: EmbeddedMigration[] = readMigrationsAtBuildTime("sqlite");
export const POSTGRES_MIGRATIONS: EmbeddedMigration[] = readMigrationsAtBuildTime("pg");

export const STATEMENT_BREAKPOINT = "--> statement-breakpoint";

export class MigrationError extends Error {
  override name = "MigrationError";
}

export interface AppliedMigration {
  tag: string;
  sha256: string;
}

/** The migrations still to apply, in order, after checking those already applied against the embedded ones. */
export function pendingMigrations(applied: readonly AppliedMigration[], embedded: readonly EmbeddedMigration[]) {
  const known = new Map(embedded.map((migration) => [migration.tag, sha256Hex(migration.sql)]));
  for (const row of applied) {
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
  const appliedTags = new Set(applied.map((row) => row.tag));
  return embedded
    .filter((migration) => !appliedTags.has(migration.tag))
    .map((migration) => ({
      tag: migration.tag,
      sha256: known.get(migration.tag)!,
      statements: migration.sql.split(STATEMENT_BREAKPOINT).filter((statement) => statement.trim() !== ""),
    }));
}
