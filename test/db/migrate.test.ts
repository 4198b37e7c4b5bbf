/**
 * Embedded migrations, on the run's engine (SQLite in memory, or a fresh PostgreSQL schema): applied once, in order,
 * all or nothing, and a database they do not describe stops the start.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { MigrationError, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS } from "../../src/db/migrate.ts";
import { openSqlite } from "../../src/db/sqlite.ts";
import type { Storage } from "../../src/db/storage.ts";
import { type DatabasePlace, dropPlace, freshPlace, listTables, openPlace, rawQuery } from "../support/engines.ts";

const opened: { place: DatabasePlace; storage: Storage }[] = [];
afterEach(async () => {
  for (const { place, storage } of opened.splice(0)) {
    await storage.close();
    await dropPlace(place);
  }
});

function freshStorage(): Storage {
  const place = freshPlace();
  const storage = openPlace(place);
  opened.push({ place, storage });
  return storage;
}

const embeddedFor = (storage: Storage) => (storage.dialect === "sqlite" ? SQLITE_MIGRATIONS : POSTGRES_MIGRATIONS);

describe("embedded migrations", () => {
  for (const [dialect, embedded] of [
    ["sqlite", SQLITE_MIGRATIONS],
    ["pg", POSTGRES_MIGRATIONS],
  ] as const) {
    test(`${dialect}: are embedded from drizzle/${dialect} in journal order`, async () => {
      const journal = await Bun.file(new URL(`../../drizzle/${dialect}/meta/_journal.json`, import.meta.url)).json();
      expect(embedded.map((migration) => migration.tag)).toEqual(
        journal.entries.map((entry: { tag: string }) => entry.tag),
      );
    });
  }

  test("apply once; a second run applies nothing", async () => {
    const storage = freshStorage();
    const tags = embeddedFor(storage).map((migration) => migration.tag);
    expect((await storage.migrate(1)).applied).toEqual(tags);
    expect(await storage.migrate(2)).toEqual({ applied: [], alreadyApplied: tags.length, newer: [] });
    expect((await storage.appliedMigrations()).map((row) => row.tag)).toEqual(tags);
  });

  test("a migration edited after it was applied stops the start", async () => {
    const storage = freshStorage();
    await storage.migrate(1);
    const edited = embeddedFor(storage).map((migration, index) =>
      index === 0 ? { ...migration, sql: `${migration.sql}\n-- edited` } : migration,
    );
    await expect(storage.migrate(2, edited)).rejects.toThrow(MigrationError);
  });

  test("a database migrated by a newer binary stops the start instead of guessing", async () => {
    const storage = freshStorage();
    await storage.migrate(1);
    await rawQuery(
      storage,
      "INSERT INTO latchkey_migrations (tag, sha256, applied_at_ms) VALUES ('9999_future', 'x', 1)",
    );
    await expect(storage.migrate(2)).rejects.toThrow(/newer latchkey/);
  });

  test("a failing migration leaves nothing half-applied", async () => {
    const storage = freshStorage();
    const broken = [{ tag: "0000_broken", sql: "CREATE TABLE ok_table (id TEXT);\n--> statement-breakpoint\nNOT SQL" }];
    await expect(storage.migrate(1, broken)).rejects.toThrow();
    expect(await listTables(storage)).not.toContain("ok_table");
    // The next start applies everything, as on an empty database.
    expect((await storage.migrate(2)).applied).toEqual(embeddedFor(storage).map((migration) => migration.tag));
  });

  test("nodes starting together on an empty database migrate it once", async () => {
    const first = freshStorage();
    const place = opened[0]!.place;
    if (place.engine === "sqlite" && place.path === ":memory:") {
      // An in-memory database cannot be shared; SQLite's concurrent first starts are covered by the crash and
      // binary tests on a file. Here: one storage migrating from several callers at once.
      const results = await Promise.all([first.migrate(1), first.migrate(1), first.migrate(1)]);
      expect(results.filter((result) => result.applied.length > 0)).toHaveLength(1);
      return;
    }
    const others = [openPlace(place), openPlace(place)];
    try {
      const results = await Promise.all([first, ...others].map((storage) => storage.migrate(1)));
      expect(results.filter((result) => result.applied.length > 0)).toHaveLength(1);
    } finally {
      for (const storage of others) await storage.close();
    }
  });

  test("SQLite files use WAL, FULL synchronous and a busy timeout", () => {
    const path = `${process.env.TMPDIR ?? "/tmp"}/latchkey-pragma-${crypto.randomUUID()}.db`;
    const sqlite = openSqlite(path);
    try {
      expect(sqlite.query("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
      expect(sqlite.query("PRAGMA synchronous").get()).toEqual({ synchronous: 2 });
      expect(sqlite.query("PRAGMA busy_timeout").get()).toEqual({ timeout: 5000 });
      expect(sqlite.query("PRAGMA foreign_keys").get()).toEqual({ foreign_keys: 1 });
    } finally {
      sqlite.close();
      for (const suffix of ["", "-wal", "-shm"])
        Bun.file(`${path}${suffix}`)
          .delete()
          .catch(() => {});
    }
  });
});
