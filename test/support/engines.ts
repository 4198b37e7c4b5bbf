/**
 * The engines a test run uses. By default every world has a fresh SQLite database in memory and buckets in memory.
 * With LATCHKEY_TEST_POSTGRES_URL (a server, e.g. postgres://root@127.0.0.1:5432/postgres) the run creates its own
 * database there (test/support/preload.ts) and every world gets a fresh schema in it; with LATCHKEY_TEST_REDIS_URL
 * every world shares buckets through Redis under its own key prefix. Nothing outside the run's database and prefixes
 * is touched.
 */
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { PostgresStorage } from "../../src/db/postgres.ts";
import { SqliteStorage } from "../../src/db/sqlite.ts";
import type { Storage } from "../../src/db/storage.ts";

/** The run's own database (set by the preload), when the tests run on PostgreSQL. */
export const RUN_DATABASE_ENV = "LATCHKEY_TEST_DATABASE_URL";

export function testPostgresUrl(): string | undefined {
  return process.env[RUN_DATABASE_ENV] || undefined;
}

export function testRedisUrl(): string | undefined {
  return process.env.LATCHKEY_TEST_REDIS_URL || undefined;
}

export function testEngine(): "sqlite" | "postgres" {
  return testPostgresUrl() === undefined ? "sqlite" : "postgres";
}

/** Where a world's data lives: a SQLite file or memory, or a schema of the run's PostgreSQL database. */
export type DatabasePlace = { engine: "sqlite"; path: string } | { engine: "postgres"; url: string; schema: string };

/**
 * A new, empty place on the run's engine (or on SQLite, for a test of SQLite's own behaviour). SQLite places in a
 * file can be opened by other worlds and processes; in memory they cannot.
 */
export function freshPlace(sqliteFile?: string, engine = testEngine()): DatabasePlace {
  const url = testPostgresUrl();
  if (engine === "postgres" && url !== undefined)
    return { engine: "postgres", url, schema: `w_${crypto.randomUUID().replaceAll("-", "")}` };
  // LATCHKEY_TEST_SQLITE_FILES=1 puts every world in a file (two connections, as a server has) instead of memory.
  const inFile = process.env.LATCHKEY_TEST_SQLITE_FILES
    ? join(tmpdir(), `latchkey-world-${crypto.randomUUID()}.db`)
    : undefined;
  return { engine: "sqlite", path: sqliteFile ?? inFile ?? ":memory:" };
}

export function openPlace(place: DatabasePlace): Storage {
  if (place.engine === "sqlite") {
    const storage = SqliteStorage.open(place.path);
    // Every statement drizzle runs is prepared on the writing or the reading connection, once per query or once for
    // many (a prepared lookup): what is counted is each run of one.
    for (const connection of new Set([storage.sqlite, storage.readSqlite])) {
      const prepare = connection.prepare.bind(connection);
      connection.prepare = ((...args: Parameters<typeof prepare>) => {
        const statement = prepare(...args);
        for (const method of ["all", "get", "run", "values", "iterate"] as const) {
          const run = statement[method].bind(statement) as (...params: unknown[]) => unknown;
          Object.defineProperty(statement, method, {
            value: (...params: unknown[]) => {
              count(storage);
              return run(...params);
            },
          });
        }
        return statement;
      }) as typeof prepare;
    }
    return storage;
  }
  const storage: Storage = new PostgresStorage(place.url, {
    schema: place.schema,
    poolSize: 4,
    // The node's heartbeat is its own background traffic, not a request's.
    onQuery: (_text, values) => {
      if (!String(values[1] ?? "").startsWith("heartbeat:")) count(storage);
    },
  });
  return storage;
}

const statements = new WeakMap<Storage, number>();
function count(storage: Storage): void {
  statements.set(storage, (statements.get(storage) ?? 0) + 1);
}

/** Statements this storage has run so far (prepared, on SQLite; sent, on PostgreSQL). */
export function statementsRun(storage: Storage): number {
  return statements.get(storage) ?? 0;
}

/** The URL a latchkey process (the binary) is given to use this place. */
export function placeUrl(place: DatabasePlace & { engine: "postgres" }): string {
  const url = new URL(place.url);
  url.searchParams.set("search_path", place.schema);
  return url.toString();
}

/** Drops a PostgreSQL place, or a SQLite file this module made (other files go with their folder). */
export async function dropPlace(place: DatabasePlace): Promise<void> {
  if (place.engine === "sqlite") {
    if (place.path.includes("latchkey-world-"))
      for (const suffix of ["", "-wal", "-shm"]) rmSync(`${place.path}${suffix}`, { force: true });
    return;
  }
  await withAdmin(place.url, (admin) => admin.query(`DROP SCHEMA IF EXISTS "${place.schema}" CASCADE`));
}

/** Runs SQL with `?` placeholders on either engine, for tests that look at or change rows directly. */
export async function rawQuery<Row = Record<string, unknown>>(
  storage: Storage,
  text: string,
  params: unknown[] = [],
): Promise<Row[]> {
  if (storage instanceof SqliteStorage) return storage.sqlite.query(text).all(...(params as never[])) as Row[];
  if (storage instanceof PostgresStorage) {
    let index = 0;
    const numbered = text.replace(/\?/g, () => `$${++index}`);
    return (await storage.pool.query(numbered, params)).rows as Row[];
  }
  throw new Error("unknown storage");
}

/** The database's tables, in name order. */
export async function listTables(storage: Storage): Promise<string[]> {
  const rows = await rawQuery<{ name: string }>(
    storage,
    storage.dialect === "sqlite"
      ? "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
      : "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1",
  );
  return rows.map((row) => row.name);
}

/** A hash of every row of every table: equal before and after means nothing was written. */
export async function fingerprintPlace(storage: Storage): Promise<string> {
  const hasher = new Bun.CryptoHasher("sha256");
  for (const name of await listTables(storage)) {
    const rows = (await rawQuery(storage, `SELECT * FROM "${name}"`)).map((row) => JSON.stringify(row)).sort();
    hasher.update(`${name}:${rows.join("\n")}`);
  }
  return hasher.digest("hex");
}

/** What a leak scan of the database reads: SQLite's whole file (deleted rows too), or every row of every table. */
export async function dumpPlace(storage: Storage): Promise<string | Buffer> {
  if (storage instanceof SqliteStorage) return Buffer.from(storage.sqlite.serialize());
  const parts: string[] = [];
  for (const name of await listTables(storage))
    parts.push(JSON.stringify(await rawQuery(storage, `SELECT * FROM "${name}"`)));
  return parts.join("\n");
}

/** One short-lived connection for statements outside any world (creating and dropping databases and schemas). */
export async function withAdmin<Result>(url: string, work: (admin: pg.Client) => Promise<Result>): Promise<Result> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.end();
  }
}
