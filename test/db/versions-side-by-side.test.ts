/**
 * Versions side by side on one database (src/db/migrate.ts), on the run's engine: a binary keeps starting and stays
 * ready on a database a newer latchkey migrated, as long as every migration it does not know only adds; one that
 * does more stops it. What counts as adding is decided from the SQL, and every migration shipped so far is checked
 * against it here.
 */
import { describe, expect, test } from "bun:test";
import {
  isAdditive,
  MigrationError,
  POSTGRES_MIGRATIONS,
  SQLITE_MIGRATIONS,
  STATEMENT_BREAKPOINT,
} from "../../src/db/migrate.ts";
import { createKey } from "../support/keys.ts";
import { createWorld } from "../support/world.ts";

/**
 * Migrations shipped that older versions cannot run beside. Listing one here is a promise to say so in
 * docs/operations.md (Upgrades): that release cannot be rolled out node by node, nor rolled back without a backup.
 */
const NOT_ADDITIVE: readonly string[] = [];

const statements = (sql: string) => sql.split(STATEMENT_BREAKPOINT).filter((statement) => statement.trim() !== "");

/** What a later release might ship: valid SQL on both engines, quoted the way drizzle-kit quotes. */
const LATER_ADDITIVE = {
  tag: "9000_later_additive",
  sql: `CREATE TABLE "later_things" ("id" text PRIMARY KEY NOT NULL, "key_id" text NOT NULL);
${STATEMENT_BREAKPOINT}
CREATE UNIQUE INDEX "later_things_key" ON "later_things" ("key_id");${STATEMENT_BREAKPOINT}
ALTER TABLE "api_keys" ADD "later_note" text;${STATEMENT_BREAKPOINT}
ALTER TABLE "projects" ADD "later_limit" integer DEFAULT 7 NOT NULL;`,
};
const LATER_BREAKING = { tag: "9001_later_breaking", sql: `ALTER TABLE "later_things" RENAME TO "renamed_things";` };

describe("versions side by side", () => {
  for (const [dialect, embedded] of [
    ["sqlite", SQLITE_MIGRATIONS],
    ["pg", POSTGRES_MIGRATIONS],
  ] as const) {
    test(`${dialect}: every shipped migration only adds, so the version before it runs beside it`, () => {
      const breaking = embedded.filter((migration) => !isAdditive(statements(migration.sql))).map((m) => m.tag);
      expect(breaking).toEqual(embedded.map((m) => m.tag).filter((tag) => NOT_ADDITIVE.includes(tag)));
    });
  }

  test("adding tables, indexes on them, nullable or defaulted columns is additive; anything else is not", () => {
    expect(isAdditive(statements(LATER_ADDITIVE.sql))).toBe(true);
    for (const sql of [
      LATER_BREAKING.sql,
      'ALTER TABLE "api_keys" DROP COLUMN "hint";',
      'ALTER TABLE "api_keys" ADD "must_have" text NOT NULL;',
      'CREATE UNIQUE INDEX "api_keys_name" ON "api_keys" ("name");',
      'ALTER TABLE "api_keys" ALTER COLUMN "name" SET DATA TYPE varchar(10);',
      `UPDATE "api_keys" SET "name" = 'x';`,
      'DROP INDEX "api_keys_project";',
      'ALTER TABLE "api_keys" ADD CONSTRAINT "fk" FOREIGN KEY ("owner") REFERENCES "tenants"("id");',
      // drizzle-kit's SQLite table rebuild, for a changed column.
      [
        "PRAGMA foreign_keys=OFF;",
        "CREATE TABLE `__new_api_keys` (`id` text);",
        'INSERT INTO `__new_api_keys`("id") SELECT "id" FROM `api_keys`;',
        "DROP TABLE `api_keys`;",
      ].join(`${STATEMENT_BREAKPOINT}\n`),
    ]) {
      expect({ sql, additive: isAdditive(statements(sql)) }).toEqual({ sql, additive: false });
    }
  });

  test("regression: a newer latchkey's additive migration stopped this version at start and in /readyz", async () => {
    const world = await createWorld();
    try {
      const embedded = world.storage.dialect === "sqlite" ? SQLITE_MIGRATIONS : POSTGRES_MIGRATIONS;
      const now = world.clock.nowMilliseconds();
      // The newer release migrates the shared database while this version keeps serving.
      expect((await world.storage.migrate(now, [...embedded, LATER_ADDITIVE])).applied).toEqual([LATER_ADDITIVE.tag]);
      const ready = await world.call("GET", "/readyz");
      expect({ status: ready.status, migrations: ready.body.migrations, newer: ready.body.newer_migrations }).toEqual({
        status: 200,
        migrations: embedded.length,
        newer: 1,
      });
      // It still writes and reads what it knows: the new columns take their defaults.
      const key = await createKey(world, { scopes: ["runs:read"] });
      const verified = await world.call("POST", "/v1/keys/verify", { body: { key: key.secret } });
      expect(verified.body.code).toBe("VALID");
      // And it starts again on that database (a restart, or a rollback to it).
      expect(await world.storage.migrate(now)).toEqual({
        applied: [],
        alreadyApplied: embedded.length + 1,
        newer: [LATER_ADDITIVE.tag],
      });

      // A later change that does more than add stops it, at start and in /readyz.
      await world.storage.migrate(now, [...embedded, LATER_ADDITIVE, LATER_BREAKING]);
      const refused = await world.storage.migrate(now).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(MigrationError);
      expect((refused as Error).message).toBe(
        "the database was migrated by a newer latchkey with a change this version cannot run beside " +
          `(migration ${LATER_BREAKING.tag}); upgrade this binary`,
      );
      const notReady = await world.call("GET", "/readyz");
      expect({ status: notReady.status, message: notReady.body.error.message }).toEqual({
        status: 503,
        message: "Not ready: the database was migrated by a newer latchkey this version cannot run beside.",
      });
    } finally {
      await world.close();
    }
  });

  test("a database lacking one of this version's migrations beside one of a newer latchkey is refused", async () => {
    const world = await createWorld();
    try {
      const embedded = world.storage.dialect === "sqlite" ? SQLITE_MIGRATIONS : POSTGRES_MIGRATIONS;
      const now = world.clock.nowMilliseconds();
      await world.storage.migrate(now, [...embedded, LATER_ADDITIVE]);
      const ahead = [...embedded, { tag: "8999_ours_not_theirs", sql: 'CREATE TABLE "ours" ("id" text);' }];
      await expect(world.storage.migrate(now, ahead)).rejects.toThrow(/lacks 8999_ours_not_theirs/);
    } finally {
      await world.close();
    }
  });
});
