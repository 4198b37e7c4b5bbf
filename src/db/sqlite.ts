/**
 * The SQLite driver: one file (or `:memory:`), opened with the pragmas latchkey relies on. Order matters: busy_timeout
 * first, so that the WAL switch (which needs a moment of exclusive access) waits for other starting processes instead
 * of failing; the switch is retried anyway because a lock held during another process's first migration can outlast
 * a single wait. synchronous=FULL: an acknowledged key, revocation or session survives kill -9 and power loss.
 *
 * The file holds key hashes, the audit trail and, without LATCHKEY_MASTER_KEY, the private token-signing keys, so it
 * is created readable by its owner only (0600); SQLite gives its -wal and -shm files the same mode.
 *
 * Write transactions. bun:sqlite runs statements synchronously, but a write transaction here is an async function (the
 * same services run on PostgreSQL). bun:sqlite's own transaction() must not be given one: it commits when the callback
 * returns its promise, so the statements after the first `await` would run outside it. Instead the transaction is
 * opened and closed by hand around the awaited work, and an async lock lets one write transaction at a time run in
 * this process (other processes wait at BEGIN IMMEDIATE, up to busy_timeout). Every write of latchkey goes through
 * a write transaction, so no statement of another request can land inside one; reads go to a second connection and
 * see only what is committed.
 */
import { Database } from "bun:sqlite";
import { closeSync, existsSync, openSync, realpathSync, statSync } from "node:fs";
import { asc, gt, lt, max } from "drizzle-orm";
import { drizzle } from "drizzle-orm/bun-sqlite";
import type { EmbeddedMigration } from "./embedded-migrations.ts";
import { type AppliedMigration, pendingMigrations, SQLITE_MIGRATIONS } from "./migrate.ts";
import * as schema from "./schema.sqlite.ts";
import type { Tables } from "./schema.ts";
import type { ChangedEntity, ChangePage, Executor, MigrationResult, QueryDb, Storage } from "./storage.ts";

const BUSY_TIMEOUT_MILLISECONDS = 5000;
const WAL_SWITCH_ATTEMPTS = 50;
const OWNER_ONLY = 0o600;

export function openSqlite(path: string): Database {
  if (path !== ":memory:" && !existsSync(path)) closeSync(openSync(path, "a", OWNER_ONLY));
  const sqlite = new Database(path, { create: true, strict: true });
  sqlite.run(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MILLISECONDS}`);
  if (path !== ":memory:") switchToWriteAheadLog(sqlite);
  sqlite.run("PRAGMA synchronous = FULL");
  sqlite.run("PRAGMA foreign_keys = ON");
  return sqlite;
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

/** A lock that lets one holder at a time through, in arrival order. */
class AsyncLock {
  private tail: Promise<void> = Promise.resolve();

  async hold<Result>(work: () => Promise<Result>): Promise<Result> {
    const previous = this.tail;
    let release!: () => void;
    this.tail = new Promise((resolve) => {
      release = resolve;
    });
    await previous;
    try {
      return await work();
    } finally {
      release();
    }
  }
}

/**
 * One lock per file in this process, shared by every storage opened on it: BEGIN IMMEDIATE waits synchronously, so a
 * second connection of this process waiting there for a transaction of the first (which awaits between statements)
 * would stop the very thread that must finish it.
 */
const locksByFile = new Map<string, WeakRef<AsyncLock>>();

function lockFor(path: string): AsyncLock {
  if (path === ":memory:") return new AsyncLock();
  const file = realpathSync(path);
  const existing = locksByFile.get(file)?.deref();
  if (existing) return existing;
  const lock = new AsyncLock();
  locksByFile.set(file, new WeakRef(lock));
  return lock;
}

export class SqliteStorage implements Storage {
  readonly dialect = "sqlite" as const;
  reader: Executor;
  readonly location: string;
  private readonly db: QueryDb;
  private readonly lock: AsyncLock;

  /**
   * `sqlite` writes; `readSqlite` (a second connection to the same file, query-only) reads, so a request never sees
   * rows of a write transaction that is still open (WAL gives it the last committed state, without waiting). An
   * in-memory database has one connection, so there reads may see an open transaction's rows.
   */
  constructor(
    readonly sqlite: Database,
    location: string,
    readonly readSqlite: Database = sqlite,
  ) {
    this.location = location;
    this.lock = lockFor(location);
    // Typed as PostgreSQL's query builder (see Tables); at run time it is drizzle's SQLite one.
    this.db = drizzle({ client: sqlite, schema }) as unknown as QueryDb;
    this.reader = {
      drizzle: readSqlite === sqlite ? this.db : (drizzle({ client: readSqlite, schema }) as unknown as QueryDb),
      tables: schema as unknown as Tables,
      dialect: this.dialect,
      afterCommit: (action) => action(),
    };
  }

  static open(path: string): SqliteStorage {
    const sqlite = openSqlite(path);
    if (path === ":memory:") return new SqliteStorage(sqlite, path);
    const readSqlite = openSqlite(path);
    readSqlite.run("PRAGMA query_only = ON");
    return new SqliteStorage(sqlite, path, readSqlite);
  }

  async writeTransaction<Result>(work: (tx: Executor) => Promise<Result>): Promise<Result> {
    return this.lock.hold(async () => {
      const committed: (() => void | Promise<void>)[] = [];
      const tx: Executor = { ...this.reader, drizzle: this.db, afterCommit: (action) => committed.push(action) };
      this.sqlite.run("BEGIN IMMEDIATE");
      let result: Result;
      try {
        result = await work(tx);
        this.sqlite.run("COMMIT");
      } catch (error) {
        if (this.sqlite.inTransaction) this.sqlite.run("ROLLBACK");
        throw error;
      }
      for (const action of committed) await action();
      return result;
    });
  }

  /** BEGIN IMMEDIATE already lets one write transaction at a time run, across processes too: no lock to add. */
  async writeTransactionInTurn<Result>(
    _locks: readonly string[],
    work: (tx: Executor) => Promise<Result>,
  ): Promise<Result> {
    return this.writeTransaction(work);
  }

  async migrate(nowMilliseconds: number, embedded = SQLITE_MIGRATIONS): Promise<MigrationResult> {
    return this.lock.hold(async () => applySqliteMigrations(this.sqlite, nowMilliseconds, embedded));
  }

  async appliedMigrations(): Promise<AppliedMigration[]> {
    return readApplied(this.sqlite);
  }

  async recordChange(tx: Executor, entity: ChangedEntity, entityId: string, nowMilliseconds: number): Promise<void> {
    await tx.drizzle.insert(tx.tables.changes).values({ entity, entityId, changedAtMs: nowMilliseconds });
  }

  async changeLogEnd(): Promise<string> {
    const [row] = await this.reader.drizzle
      .select({ seq: max(this.reader.tables.changes.seq) })
      .from(this.reader.tables.changes);
    return String(row?.seq ?? 0);
  }

  /**
   * Writers hold the write lock (BEGIN IMMEDIATE) while they append, so sequence numbers become visible in order and
   * every row after the position is safe to read. A gap in the numbers means the rows were pruned before this
   * reader saw them.
   */
  async readChanges(position: string, limit: number): Promise<ChangePage> {
    const after = Number(position);
    const { changes } = this.reader.tables;
    const rows = await this.reader.drizzle
      .select()
      .from(changes)
      .where(gt(changes.seq, after))
      .orderBy(asc(changes.seq))
      .limit(limit);
    return {
      rows: rows.map((row) => ({ entity: row.entity, entityId: row.entityId })),
      position: String(rows.at(-1)?.seq ?? after),
      gap: rows.length > 0 && rows[0]!.seq > after + 1,
    };
  }

  async pruneChanges(olderThanMilliseconds: number): Promise<number> {
    return this.writeTransaction(async (tx) => {
      const pruned = await tx.drizzle
        .delete(tx.tables.changes)
        .where(lt(tx.tables.changes.changedAtMs, olderThanMilliseconds))
        .returning();
      return pruned.length;
    });
  }

  async close(): Promise<void> {
    await this.lock.hold(async () => {
      if (this.readSqlite !== this.sqlite) this.readSqlite.close();
      this.sqlite.close();
      // SQLite keeps a closed connection alive while statements prepared on it remain, and stores keep some (see
      // credential-store.ts) per executor: a new reader has none, so nothing is answered after the close.
      this.reader = { ...this.reader };
    });
  }
}

/** The whole check-and-apply in one BEGIN IMMEDIATE, so parallel first starts take turns. */
function applySqliteMigrations(
  sqlite: Database,
  nowMilliseconds: number,
  embedded: readonly EmbeddedMigration[] = SQLITE_MIGRATIONS,
): MigrationResult {
  const run = sqlite.transaction(() => {
    sqlite.run(
      "CREATE TABLE IF NOT EXISTS latchkey_migrations (tag TEXT PRIMARY KEY NOT NULL, sha256 TEXT NOT NULL, " +
        "applied_at_ms INTEGER NOT NULL, additive INTEGER DEFAULT 0 NOT NULL)",
    );
    // Databases migrated before versions could run side by side lack the column (older binaries never read it).
    const columns = sqlite.query("PRAGMA table_info(latchkey_migrations)").all() as { name: string }[];
    if (!columns.some((column) => column.name === "additive")) {
      sqlite.run("ALTER TABLE latchkey_migrations ADD additive INTEGER DEFAULT 0 NOT NULL");
    }
    const applied = readApplied(sqlite);
    const { pending, newer } = pendingMigrations(applied, embedded);
    for (const migration of pending) {
      for (const statement of migration.statements) sqlite.run(statement);
      sqlite.run("INSERT INTO latchkey_migrations (tag, sha256, applied_at_ms, additive) VALUES (?, ?, ?, ?)", [
        migration.tag,
        migration.sha256,
        nowMilliseconds,
        migration.additive ? 1 : 0,
      ]);
    }
    return { applied: pending.map((migration) => migration.tag), alreadyApplied: applied.length, newer };
  });
  return run.immediate();
}

function readApplied(sqlite: Database): AppliedMigration[] {
  const rows = sqlite.query("SELECT * FROM latchkey_migrations").all() as {
    tag: string;
    sha256: string;
    additive?: number;
  }[];
  return rows.map((row) => ({ tag: row.tag, sha256: row.sha256, additive: row.additive === 1 }));
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
