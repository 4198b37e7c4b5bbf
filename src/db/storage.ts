/**
 * One storage interface, two drivers: SQLite (sqlite.ts, the embedded default) and PostgreSQL (postgres.ts, for
 * several nodes). Everything above the db layer speaks to a Storage: stores run drizzle queries on an Executor, and
 * every write happens in `writeTransaction`, which each driver implements with its engine's guarantees:
 *
 * - SQLite: one write transaction at a time in the process (an async lock) and across processes (BEGIN IMMEDIATE);
 * - PostgreSQL: SERIALIZABLE transactions, retried when the engine reports a serialization failure or deadlock.
 *
 * Either way a write transaction behaves as if it ran alone: it may read, decide and write without a race.
 */

import type { NodePgQueryResultHKT } from "drizzle-orm/node-postgres";
import type { PgDatabase } from "drizzle-orm/pg-core";
import type { EmbeddedMigration } from "./embedded-migrations.ts";
import type { AppliedMigration } from "./migrate.ts";
import type { ChangeRow, Tables } from "./schema.ts";

type Dialect = "sqlite" | "postgres";

/** What the change log names: a key, a project or a tenant whose cached copies must be dropped. */
export type ChangedEntity = ChangeRow["entity"];

/** A drizzle database or transaction, typed as PostgreSQL's: see Tables in schema.ts for why. */
export type QueryDb = PgDatabase<NodePgQueryResultHKT, Tables>;

/** What a store runs its queries on: the database, or an open write transaction. */
export interface Executor {
  readonly drizzle: QueryDb;
  readonly tables: Tables;
  readonly dialect: Dialect;
  /**
   * Runs once the enclosing transaction has committed (and never if it rolls back); at once outside one. The
   * transaction's caller waits for it, so what it does (drop a cache entry, re-read a project) is done before the
   * write is acknowledged.
   */
  afterCommit(action: () => void | Promise<void>): void;
}

export interface MigrationResult {
  applied: string[];
  alreadyApplied: number;
  /** Migrations of a newer latchkey found applied (all additive, or the start would have stopped). */
  newer: string[];
}

/** A page of the change log and where the next read starts (an opaque position, the driver's own). */
export interface ChangePage {
  rows: { entity: ChangedEntity; entityId: string }[];
  position: string;
  /** True when the log no longer holds rows this position had not read (pruned): caches must be dropped. */
  gap: boolean;
}

export interface Storage {
  readonly dialect: Dialect;
  /** Reads outside a transaction. Writes never go here: they go through writeTransaction. */
  readonly reader: Executor;
  writeTransaction<Result>(work: (tx: Executor) => Promise<Result>): Promise<Result>;
  /**
   * A write transaction that begins only once no other transaction holds any of `locks`, and sees everything they
   * committed: for a count that many requests read and append to at once (wrong user codes). On PostgreSQL racing
   * SERIALIZABLE transactions would fail and retry over and over on such a count; these wait their turn instead (the
   * locks are taken before BEGIN, so the transaction's snapshot comes after them). SQLite runs every write
   * transaction alone in any case.
   */
  writeTransactionInTurn<Result>(locks: readonly string[], work: (tx: Executor) => Promise<Result>): Promise<Result>;
  /**
   * Applies the embedded migrations (or those given), one node at a time, and refuses a database whose applied
   * migrations were edited since, or that a newer latchkey migrated with a change this one cannot run beside
   * (src/db/migrate.ts).
   */
  migrate(nowMilliseconds: number, embedded?: readonly EmbeddedMigration[]): Promise<MigrationResult>;
  appliedMigrations(): Promise<AppliedMigration[]>;
  /** Appends to the change log inside `tx` (and, on PostgreSQL, notifies every listening node at commit). */
  recordChange(tx: Executor, entity: ChangedEntity, entityId: string, nowMilliseconds: number): Promise<void>;
  /** Where the change log ends now: the position a fresh reader starts from. */
  changeLogEnd(): Promise<string>;
  /** Change-log rows after `position` that are safe to read now (see each driver for what safe means). */
  readChanges(position: string, limit: number): Promise<ChangePage>;
  pruneChanges(olderThanMilliseconds: number): Promise<number>;
  /**
   * Where changes are pushed as well as logged (PostgreSQL): `onMessage` gets every notification, `onListening` runs
   * each time listening (re)starts, after which notifications sent meanwhile are lost. Absent for SQLite, whose log
   * is a local file read a few times a second.
   */
  subscribe?(onMessage: (payload: string) => void, onListening: () => void): Promise<() => Promise<void>>;
  /** Sends a notification every subscriber receives after every change committed before it. */
  notify?(payload: string): Promise<void>;
  /** For logs: the file, or the PostgreSQL host and database (never a password). */
  readonly location: string;
  close(): Promise<void>;
}

/** The first row of a result, for lookups by key (`.limit(1)` keeps the engine from reading on). */
export function first<Row>(rows: Row[]): Row | undefined {
  return rows[0];
}
