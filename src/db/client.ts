/**
 * Opens the SQLite file with the pragmas latchkey relies on. Order matters: busy_timeout first, so that the WAL switch
 * (which needs a moment of exclusive access) waits for other starting processes instead of failing; the switch is
 * retried anyway because a lock held during another process's first migration can outlast a single wait.
 * synchronous=FULL: an acknowledged key, revocation or session survives kill -9 and power loss.
 *
 * The file holds key hashes, the audit trail and, without LATCHKEY_MASTER_KEY, the private token-signing keys, so it
 * is created readable by its owner only (0600); SQLite gives its -wal and -shm files the same mode.
 */
import { Database } from "bun:sqlite";
import { closeSync, existsSync, openSync, statSync } from "node:fs";
import { drizzle } from "drizzle-orm/bun-sqlite";
import * as schema from "./schema.ts";

export type Db = ReturnType<typeof drizzle<typeof schema>>;

export interface OpenedDatabase {
  sqlite: Database;
  db: Db;
}

const BUSY_TIMEOUT_MILLISECONDS = 5000;
const WAL_SWITCH_ATTEMPTS = 50;

const OWNER_ONLY = 0o600;

export function openDatabase(path: string): OpenedDatabase {
  if (path !== ":memory:" && !existsSync(path)) closeSync(openSync(path, "a", OWNER_ONLY));
  const sqlite = new Database(path, { create: true, strict: true });
  sqlite.run(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MILLISECONDS}`);
  if (path !== ":memory:") switchToWriteAheadLog(sqlite);
  sqlite.run("PRAGMA synchronous = FULL");
  sqlite.run("PRAGMA foreign_keys = ON");
  return { sqlite, db: drizzle({ client: sqlite, schema }) };
}

function switchToWriteAheadLog(sqlite: Database): void {
  for (let attempt = 1; ; attempt++) {
    try {
      const row = sqlite.query("PRAGMA journal_mode = WAL").get() as { journal_mode: string } | null;
      if (row?.journal_mode === "wal") return;
      throw new Error(`journal_mode stayed ${row?.journal_mode ?? "unknown"}`);
    } catch (error) {
      if (attempt >= WAL_SWITCH_ATTEMPTS || !isBusyError(error)) throw error;
      Bun.sleepSync(20 + Math.floor(Math.random() * 30));
    }
  }
}

function isBusyError(error: unknown): boolean {
  return (
    error instanceof Error &&
    /SQLITE_BUSY|database is locked/i.test(`${(error as { code?: string }).code} ${error.message}`)
  );
}

/** A warning for each database file that users other than its owner may read (an existing file keeps its mode). */
export function databaseFileWarnings(path: string): string[] {
  if (path === ":memory:") return [];
  return [path, `${path}-wal`, `${path}-shm`].flatMap((file) => {
    const mode = existsSync(file) ? statSync(file).mode & 0o777 : 0;
    return (mode & 0o077) === 0
      ? []
      : [`${file} is readable or writable by other users (mode ${mode.toString(8)}); run: chmod 600 ${file}`];
  });
}
