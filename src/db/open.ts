/**
 * Which engine: PostgreSQL when a database URL is given (several nodes share it), else SQLite in one file (the
 * embedded default).
 */
import { PostgresStorage } from "./postgres.ts";
import { SqliteStorage } from "./sqlite.ts";
import type { Storage } from "./storage.ts";

export interface StorageConfig {
  /** postgres://…; when set, the SQLite path is not used. */
  databaseUrl?: string;
  sqlitePath: string;
}

export function openStorage(config: StorageConfig): Storage {
  return config.databaseUrl === undefined
    ? SqliteStorage.open(config.sqlitePath)
    : new PostgresStorage(config.databaseUrl);
}
