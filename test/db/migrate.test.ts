import { describe, expect, test } from "bun:test";
import { openDatabase } from "../../src/db/client.ts";
import { applyMigrations, EMBEDDED_MIGRATIONS, MigrationError } from "../../src/db/migrate.ts";

describe("embedded migrations", () => {
  test("are embedded from drizzle/ in journal order", async () => {
    const journal = await Bun.file(new URL("../../drizzle/meta/_journal.json", import.meta.url)).json();
    expect(EMBEDDED_MIGRATIONS.map((migration) => migration.tag)).toEqual(
      journal.entries.map((entry: { tag: string }) => entry.tag),
    );
  });

  test("apply once; a second run applies nothing", () => {
    const { sqlite } = openDatabase(":memory:");
    expect(applyMigrations(sqlite, 1).applied).toEqual(EMBEDDED_MIGRATIONS.map((migration) => migration.tag));
    expect(applyMigrations(sqlite, 2)).toEqual({ applied: [], alreadyApplied: EMBEDDED_MIGRATIONS.length });
  });

  test("a migration edited after it was applied stops the start", () => {
    const { sqlite } = openDatabase(":memory:");
    applyMigrations(sqlite, 1);
    const edited = EMBEDDED_MIGRATIONS.map((migration, index) =>
      index === 0 ? { ...migration, sql: `${migration.sql}\n-- edited` } : migration,
    );
    expect(() => applyMigrations(sqlite, 2, edited)).toThrow(MigrationError);
  });

  test("a database migrated by a newer binary stops the start instead of guessing", () => {
    const { sqlite } = openDatabase(":memory:");
    applyMigrations(sqlite, 1);
    sqlite.run("INSERT INTO latchkey_migrations (tag, sha256, applied_at_ms) VALUES ('9999_future', 'x', 1)");
    expect(() => applyMigrations(sqlite, 2)).toThrow(/newer latchkey/);
  });

  test("a failing migration leaves nothing half-applied", () => {
    const { sqlite } = openDatabase(":memory:");
    const broken = [{ tag: "0000_broken", sql: "CREATE TABLE ok_table (id TEXT);\n--> statement-breakpoint\nNOT SQL" }];
    expect(() => applyMigrations(sqlite, 1, broken)).toThrow();
    const tables = sqlite.query("SELECT name FROM sqlite_master WHERE name = 'ok_table'").all();
    expect(tables).toEqual([]);
  });

  test("file databases use WAL, FULL synchronous and a busy timeout", () => {
    const path = `${process.env.TMPDIR ?? "/tmp"}/latchkey-pragma-${crypto.randomUUID()}.db`;
    const { sqlite } = openDatabase(path);
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
