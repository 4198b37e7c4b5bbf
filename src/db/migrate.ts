/**
 * The embedded migrations of each dialect, and the rules every driver applies them by. Many processes (or nodes) may
 * start at once on a fresh database, so each driver runs the whole check-and-apply under one lock and re-reads what is
 * applied after taking it. A migration whose text changed after it was applied stops the start rather than guessing.
 *
 * Versions side by side (a rolling upgrade, a rollback). Each applied migration is recorded with whether it is
 * additive: it only adds tables, indexes (unique ones only on tables it creates), columns that are nullable or have
 * a default, and foreign keys of tables it creates. Code that never heard of such a change keeps working beside it:
 * it names the columns it reads and writes, and what it inserts gets the defaults. So a binary runs on a database
 * that a newer latchkey migrated, as long as every migration it does not know is additive; a database carrying a
 * later migration that is not additive (a rename, a drop, a changed type, a data rewrite) stops it, as it would
 * misread that database. The rule is decided here once, from the SQL, by the binary that applies it.
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
  /** Recorded when it was applied (see the rule above); false for rows written before the rule existed. */
  additive: boolean;
}

/** How a database's applied migrations stand against the ones this binary carries. */
export interface SchemaState {
  /** Migrations this binary carries that the database lacks. */
  missing: string[];
  /** Migrations a newer latchkey applied, all additive: this binary runs beside them. */
  newer: string[];
  /** Why this binary must not run on the database; null when it may. */
  refusal: string | null;
}

export function schemaState(applied: readonly AppliedMigration[], embedded: readonly EmbeddedMigration[]): SchemaState {
  const known = new Map(embedded.map((migration) => [migration.tag, sha256Hex(migration.sql)]));
  const newer: string[] = [];
  let refusal: string | null = null;
  for (const row of applied) {
    const expected = known.get(row.tag);
    if (expected === undefined) {
      newer.push(row.tag);
      if (!row.additive && refusal === null) {
        refusal =
          `the database was migrated by a newer latchkey with a change this version cannot run beside ` +
          `(migration ${row.tag}); upgrade this binary`;
      }
    } else if (expected !== row.sha256) {
      refusal ??= `migration ${row.tag} changed after it was applied; restore the original file`;
    }
  }
  const appliedTags = new Set(applied.map((row) => row.tag));
  const missing = embedded.filter((migration) => !appliedTags.has(migration.tag)).map((migration) => migration.tag);
  // A newer latchkey applies every earlier migration first: lacking one of ours beside one of its own means the two
  // histories diverged, and applying ours now would run it out of order.
  if (refusal === null && missing.length > 0 && newer.length > 0) {
    refusal =
      `the database carries migrations this version does not know (${newer.join(", ")}) ` +
      `but lacks ${missing.join(", ")}`;
  }
  return { missing, newer, refusal };
}

export interface PendingMigration {
  tag: string;
  sha256: string;
  additive: boolean;
  statements: string[];
}

/** The migrations still to apply, in order, after checking those already applied against the embedded ones. */
export function pendingMigrations(
  applied: readonly AppliedMigration[],
  embedded: readonly EmbeddedMigration[],
): { pending: PendingMigration[]; newer: string[] } {
  const state = schemaState(applied, embedded);
  if (state.refusal !== null) throw new MigrationError(state.refusal);
  const missing = new Set(state.missing);
  const pending = embedded
    .filter((migration) => missing.has(migration.tag))
    .map((migration) => {
      const statements = statementsOf(migration.sql);
      return { tag: migration.tag, sha256: sha256Hex(migration.sql), additive: isAdditive(statements), statements };
    });
  return { pending, newer: state.newer };
}

function statementsOf(sql: string): string[] {
  return sql.split(STATEMENT_BREAKPOINT).filter((statement) => statement.trim() !== "");
}

const NAME = String.raw`[\x60"]([^\x60"]+)[\x60"]`;
const CREATE_TABLE = new RegExp(String.raw`^CREATE TABLE (?:IF NOT EXISTS )?${NAME}`, "i");
const CREATE_INDEX = new RegExp(String.raw`^CREATE (UNIQUE )?INDEX (?:IF NOT EXISTS )?${NAME} ON ${NAME}`, "i");
const ADD_COLUMN = new RegExp(String.raw`^ALTER TABLE ${NAME} ADD (?:COLUMN )?${NAME}(.*)$`, "is");
const ADD_FOREIGN_KEY = new RegExp(String.raw`^ALTER TABLE ${NAME} ADD CONSTRAINT ${NAME} FOREIGN KEY`, "i");

/**
 * Whether every statement only adds (the rule in the header). Conservative: a statement of any other form, however
 * harmless, makes the migration one older binaries must not run beside.
 */
export function isAdditive(statements: readonly string[]): boolean {
  const created = new Set<string>();
  return statements.every((raw) => {
    const statement = raw
      .replace(/--[^\n]*$/gm, "")
      .trim()
      .replace(/;$/, "");
    const table = CREATE_TABLE.exec(statement);
    if (table) {
      created.add(table[1]!);
      return true;
    }
    const index = CREATE_INDEX.exec(statement);
    if (index) return index[1] === undefined || created.has(index[3]!);
    const column = ADD_COLUMN.exec(statement);
    if (column) {
      const definition = column[3]!;
      return !/\bNOT NULL\b/i.test(definition) || /\bDEFAULT\b/i.test(definition);
    }
    const foreignKey = ADD_FOREIGN_KEY.exec(statement);
    return foreignKey !== null && created.has(foreignKey[1]!);
  });
}
