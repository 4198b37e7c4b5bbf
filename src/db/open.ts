/**
 * Which engine: PostgreSQL when a database URL is given (several nodes share it), else SQLite in one file (the
 * embedded default). The PostgreSQL driver (pg, drizzle's pg-core, the listener) is imported only when a URL names
 * it: a start on SQLite never loads it.
 */
import { SqliteStorage } from "./sqlite.ts";
import type { Storage } from "./storage.ts";

export interface StorageConfig {
  /** postgres://…; when set, the SQLite path is not used. */
  databaseUrl?: string;
  sqlitePath: string;
}

export async function openStorage(config: StorageConfig): Promise<Storage> {
  if (config.databaseUrl === undefined) return SqliteStorage.open(config.sqlitePath);
  const { PostgresStorage } = await import("./postgres.ts");
  return new PostgresStorage(config.databaseUrl);
}
