/**
 * The PostgreSQL driver, for several nodes sharing one database: node-postgres (`pg`, with drizzle's node-postgres
 * adapter). Chosen by measurement on this Bun version: with connections terminated by the server every 200 ms under 16
 * concurrent callers for 10 s, `pg` answered 6,626 queries, failed 196 with 57P01 and never waited more than 68 ms;
 * postgres.js answered 504 and left 28 pending past 5 s (its reconnects stall on Bun). Bun's built-in SQL has open
 * issues of the same kind (pools stalling after server-side disconnects).
 *
 * - Write transactions are SERIALIZABLE and retried on a serialization failure or deadlock, so each behaves as if it
 *   ran alone (as SQLite's BEGIN IMMEDIATE gives): read, decide, write, without a race between nodes.
 * - Migrations run in one transaction under an advisory lock, so nodes starting together on an empty database take
 *   turns.
 * - The change log is read only below the snapshot horizon (pg_snapshot_xmin): sequence numbers are taken when a row
 *   is written but become visible when its transaction commits, and transactions commit out of order, so
 *   `seq > last` would skip rows. Every transaction with an id below the horizon has ended, so once the horizon
 *   passes a row, the row is visible (if committed) and no earlier one can still appear. Positions are horizons.
 * - Changes are also pushed: each writer NOTIFYs in its transaction (delivered at commit, in commit order) and every
 *   node LISTENs on a dedicated connection (pg-listener.ts), which needs a direct connection to the server (not a
 *   transaction-mode pooler). The read of the log stays as the backstop.
 * - Every query has a client-side deadline, so a database that went silent (a partition sends no reset) fails
 *   requests instead of holding them.
 */
import { sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/node-postgres";
import pg from "pg";
import type { EmbeddedMigration } from "./embedded-migrations.ts";
import { type AppliedMigration, POSTGRES_MIGRATIONS, pendingMigrations } from "./migrate.ts";
import { PgListener } from "./pg-listener.ts";
import * as schema from "./schema.pg.ts";
import type { ChangedEntity, ChangePage, Executor, MigrationResult, QueryDb, Storage } from "./storage.ts";
import { isStorageUnavailable } from "./unavailable.ts";

const CHANGES_CHANNEL = "latchkey_changes";
/** Any 64-bit number that other applications sharing the database are unlikely to use for their own locks. */
const MIGRATION_LOCK = "7419055327113452";
const TRANSACTION_ATTEMPTS = 8;
/** SQLSTATEs after which a transaction is simply run again: serialization failure, deadlock. */
const RETRYABLE = new Set(["40001", "40P01"]);
/** A burst larger than this in one read is not applied row by row: every cache is dropped instead (always safe). */
const MAX_CHANGES_PER_READ = 10_000;
/** No query of latchkey's takes long; one that has not answered in this long is failed (503 to its request). */
const QUERY_DEADLINE_MILLISECONDS = 10_000;

export interface PostgresOptions {
  /** The schema latchkey's tables live in; the URL's `search_path` parameter when omitted, else the default. */
  schema?: string;
  /** Connections in the pool (the LISTEN connection is one more). */
  poolSize?: number;
  /** Milliseconds to wait for a connection to the server. */
  connectTimeoutMilliseconds?: number;
  /** Called with each statement sent through the pool and its values (for counting what a request costs). */
  onQuery?: (text: string, values: readonly unknown[]) => void;
}

export class PostgresStorage implements Storage {
  readonly dialect = "postgres" as const;
  readonly reader: Executor;
  readonly location: string;
  readonly pool: pg.Pool;
  /** Where notifications go: one channel per schema, so latchkeys sharing a database do not hear each other. */
  readonly channel: string;
  private readonly schema: string | undefined;
  private readonly connection: pg.ClientConfig;
  private readonly db: QueryDb;
  private readonly listeners = new Set<PgListener>();

  constructor(url: string, options: PostgresOptions = {}) {
    const parsed = new URL(url);
    // search_path is latchkey's own URL parameter (pg does not know it): sent as a startup option instead.
    this.schema = options.schema ?? parsed.searchParams.get("search_path")?.split(",")[0]?.trim() ?? undefined;
    parsed.searchParams.delete("search_path");
    this.channel = this.schema === undefined ? CHANGES_CHANNEL : `${CHANGES_CHANNEL}:${this.schema}`;
    this.connection = {
      connectionString: parsed.toString(),
      application_name: "latchkey",
      connectionTimeoutMillis: options.connectTimeoutMilliseconds ?? 5_000,
      query_timeout: QUERY_DEADLINE_MILLISECONDS,
      keepAlive: true,
      ...(this.schema === undefined ? {} : { options: `-c search_path=${quoteIdentifier(this.schema)}` }),
    };
    this.pool = new pg.Pool({ ...this.connection, max: options.poolSize ?? 10, idleTimeoutMillis: 60_000 });
    // A connection the server closed or the network lost is dropped from the pool, and the next query opens another.
    // The pool listens for that on idle connections; a lent one (inside a transaction) needs its own listener, or the
    // loss is an unhandled 'error' event. Its query has failed already, which is what its request answers (503).
    this.pool.on("error", () => {});
    this.pool.on("connect", (client) => client.on("error", () => {}));
    if (options.onQuery) countQueries(this.pool, options.onQuery);
    this.db = drizzle({ client: this.pool, schema }) as unknown as QueryDb;
    this.reader = { drizzle: this.db, tables: schema, dialect: this.dialect, afterCommit: (action) => action() };
    const schemaNote = this.schema === undefined ? "" : ` (schema ${this.schema})`;
    this.location = `postgres://${parsed.host}${parsed.pathname}${schemaNote}`;
  }

  async writeTransaction<Result>(work: (tx: Executor) => Promise<Result>): Promise<Result> {
    return this.writeTransactionInTurn([], work);
  }

  async writeTransactionInTurn<Result>(
    locks: readonly string[],
    work: (tx: Executor) => Promise<Result>,
  ): Promise<Result> {
    // Session advisory locks, taken in one order (numeric) by every transaction so that two never wait on each other.
    const keys = [...new Set(locks.map((name) => this.lockKey(name)))].sort((left, right) => Number(left - right));
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.transactionOnce(keys, work);
      } catch (error) {
        if (attempt >= TRANSACTION_ATTEMPTS || !RETRYABLE.has(sqlStateOf(error))) throw error;
        // Concurrent writers met; a short, growing, jittered pause keeps them from meeting again at once.
        await Bun.sleep(Math.random() * 5 * attempt);
      }
    }
  }

  /**
   * One attempt, on a connection of its own. By hand rather than drizzle's transaction(), which does not give the
   * connection back when BEGIN itself fails (a connection lost at that moment would leave the pool a slot short for
   * good).
   */
  private async transactionOnce<Result>(
    lockKeys: readonly bigint[],
    work: (tx: Executor) => Promise<Result>,
  ): Promise<Result> {
    const committed: (() => void | Promise<void>)[] = [];
    const client = await this.pool.connect();
    let broken = false;
    let result: Result;
    try {
      for (const key of lockKeys) await client.query("SELECT pg_advisory_lock($1)", [key.toString()]);
      await client.query("BEGIN ISOLATION LEVEL SERIALIZABLE");
      try {
        result = await work({
          drizzle: drizzle({ client, schema }) as unknown as QueryDb,
          tables: schema,
          dialect: this.dialect,
          afterCommit: (action) => committed.push(action),
        });
        await client.query("COMMIT");
      } catch (error) {
        await client.query("ROLLBACK").catch(() => {
          broken = true;
        });
        throw error;
      }
    } catch (error) {
      if (isStorageUnavailable(error)) broken = true;
      throw error;
    } finally {
      // Locks outlive the transaction (they are the session's): let go of them before the connection is lent again,
      // or close it, which lets go of them too.
      if (lockKeys.length > 0 && !broken) {
        await client.query("SELECT pg_advisory_unlock_all()").catch(() => {
          broken = true;
        });
      }
      // A connection that failed mid-transaction is closed rather than lent again.
      client.release(broken);
    }
    for (const action of committed) await action();
    return result;
  }

  /** A lock's 64-bit key, from its name and this installation's schema (several may share a database). */
  private lockKey(name: string): bigint {
    return BigInt.asIntN(64, Bun.hash.wyhash(`${this.schema ?? ""}\u0000${name}`));
  }

  async migrate(
    nowMilliseconds: number,
    embedded: readonly EmbeddedMigration[] = POSTGRES_MIGRATIONS,
  ): Promise<MigrationResult> {
    // One transaction under a transaction-scoped advisory lock: nodes starting together take turns, each re-reads what
    // is applied after the lock, and a failing statement leaves nothing behind (PostgreSQL's DDL is transactional).
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      await client.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
      if (this.schema !== undefined) await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(this.schema)}`);
      await client.query(`CREATE TABLE IF NOT EXISTS latchkey_migrations
        (tag text PRIMARY KEY NOT NULL, sha256 text NOT NULL, applied_at_ms bigint NOT NULL,
         additive boolean DEFAULT false NOT NULL)`);
      // Databases migrated before versions could run side by side lack the column (older binaries never read it).
      // Looked up first: ALTER TABLE locks the table even when there is nothing to add.
      const { rows: columns } = await client.query(
        `SELECT 1 FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = 'latchkey_migrations' AND column_name = 'additive'`,
      );
      if (columns.length === 0) {
        await client.query("ALTER TABLE latchkey_migrations ADD COLUMN additive boolean DEFAULT false NOT NULL");
      }
      const applied = await readApplied(client);
      const { pending, newer } = pendingMigrations(applied, embedded);
      for (const migration of pending) {
        // drizzle-kit qualifies references with "public"; latchkey's tables live in the connection's schema (its
        // search_path), so the qualifier is dropped and one database can hold several latchkeys.
        for (const statement of migration.statements) await client.query(statement.replaceAll('"public".', ""));
        await client.query(
          "INSERT INTO latchkey_migrations (tag, sha256, applied_at_ms, additive) VALUES ($1, $2, $3, $4)",
          [migration.tag, migration.sha256, nowMilliseconds, migration.additive],
        );
      }
      await client.query("COMMIT");
      return { applied: pending.map((migration) => migration.tag), alreadyApplied: applied.length, newer };
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  async appliedMigrations(): Promise<AppliedMigration[]> {
    return readApplied(this.pool);
  }

  async recordChange(tx: Executor, entity: ChangedEntity, entityId: string, nowMilliseconds: number): Promise<void> {
    await tx.drizzle.insert(tx.tables.changes).values({ entity, entityId, changedAtMs: nowMilliseconds });
    await tx.drizzle.execute(sql`SELECT pg_notify(${this.channel}, ${`${entity}:${entityId}`})`);
  }

  async changeLogEnd(): Promise<string> {
    const { rows } = await this.pool.query<{ horizon: string }>(
      "SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS horizon",
    );
    return rows[0]!.horizon;
  }

  async readChanges(position: string, _limit: number): Promise<ChangePage> {
    const { rows } = await this.pool.query<{ entity: ChangedEntity | null; entity_id: string; horizon: string }>(
      `WITH horizon AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin)
       SELECT changes.entity, changes.entity_id, horizon.xmin::text AS horizon
       FROM horizon LEFT JOIN changes ON changes.xid >= $1::xid8 AND changes.xid < horizon.xmin
       ORDER BY changes.xid, changes.seq
       LIMIT $2`,
      [position, MAX_CHANGES_PER_READ + 1],
    );
    const horizon = rows[0]?.horizon ?? position;
    const found = rows.filter((row): row is typeof row & { entity: ChangedEntity } => row.entity !== null);
    return {
      rows: found.slice(0, MAX_CHANGES_PER_READ).map((row) => ({ entity: row.entity, entityId: row.entity_id })),
      position: horizon,
      gap: found.length > MAX_CHANGES_PER_READ,
    };
  }

  async pruneChanges(olderThanMilliseconds: number): Promise<number> {
    const pruned = await this.pool.query("DELETE FROM changes WHERE changed_at_ms < $1", [olderThanMilliseconds]);
    return pruned.rowCount ?? 0;
  }

  /**
   * Pushes every change notification to `onMessage`, on a connection of its own that reconnects by itself;
   * `onListening` runs each time it (re)starts listening, after which notifications sent while it was away are lost.
   */
  async subscribe(onMessage: (payload: string) => void, onListening: () => void): Promise<() => Promise<void>> {
    const listener = new PgListener(this.connection, this.channel, onMessage, onListening);
    this.listeners.add(listener);
    await listener.start();
    return async () => {
      this.listeners.delete(listener);
      await listener.stop();
    };
  }

  /** A notification every listening node receives after every change committed before it (NOTIFY is commit-ordered). */
  async notify(payload: string): Promise<void> {
    await this.pool.query("SELECT pg_notify($1, $2)", [this.channel, payload]);
  }

  async close(): Promise<void> {
    for (const listener of this.listeners) await listener.stop();
    this.listeners.clear();
    if (!this.pool.ended) await this.pool.end();
  }
}

/** Every applied migration; `additive` is false for rows of a table that predates the column. */
async function readApplied(client: pg.Pool | pg.PoolClient): Promise<AppliedMigration[]> {
  const { rows } = await client.query<{ tag: string; sha256: string; additive?: boolean }>(
    "SELECT * FROM latchkey_migrations",
  );
  return rows.map((row) => ({ tag: row.tag, sha256: row.sha256, additive: row.additive === true }));
}

function sqlStateOf(error: unknown): string {
  const direct = (error as { code?: unknown }).code;
  if (typeof direct === "string") return direct;
  const cause = (error as { cause?: { code?: unknown } }).cause?.code;
  return typeof cause === "string" ? cause : "";
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Reports every statement sent through the pool, once: each runs on a client the pool lends (pool.query borrows one
 * too), so the clients' query is the one place to count.
 */
function countQueries(pool: pg.Pool, onQuery: (text: string, values: readonly unknown[]) => void): void {
  const report = (args: unknown[]) => {
    const [query, values] = args as [string | { text: string; values?: unknown[] }, unknown];
    if (typeof query === "string") onQuery(query, Array.isArray(values) ? values : []);
    else onQuery(query.text, query.values ?? (Array.isArray(values) ? values : []));
  };
  pool.on("acquire", (client) => {
    const marked = client as pg.PoolClient & { counted?: boolean };
    if (marked.counted) return;
    marked.counted = true;
    const clientQuery = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as { query: unknown }).query = (...args: unknown[]) => {
      report(args);
      return clientQuery(...args);
    };
  });
}
