/**
 * The two schemas must describe the same rows: the stores are written once, typed against schema.pg.ts, and run on
 * both engines. This file fails the typecheck (`bun run typecheck`) if a column is added to one and not the other, or
 * types differently; the test below checks the same at run time, column name by column name.
 */
import { describe, expect, test } from "bun:test";
import { getTableColumns } from "drizzle-orm";
import * as pg from "../../src/db/schema.pg.ts";
import * as sqlite from "../../src/db/schema.sqlite.ts";

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
function assertSame<Check extends true>(): Check | undefined {
  return undefined;
}

assertSame<Same<typeof pg.tenants.$inferSelect, typeof sqlite.tenants.$inferSelect>>();
assertSame<Same<typeof pg.projects.$inferSelect, typeof sqlite.projects.$inferSelect>>();
assertSame<Same<typeof pg.apiKeys.$inferSelect, typeof sqlite.apiKeys.$inferSelect>>();
assertSame<Same<typeof pg.keySecrets.$inferSelect, typeof sqlite.keySecrets.$inferSelect>>();
assertSame<Same<typeof pg.auditEvents.$inferSelect, typeof sqlite.auditEvents.$inferSelect>>();
assertSame<Same<typeof pg.signingKeys.$inferSelect, typeof sqlite.signingKeys.$inferSelect>>();
assertSame<Same<typeof pg.cliLogins.$inferSelect, typeof sqlite.cliLogins.$inferSelect>>();
assertSame<Same<Omit<typeof pg.changes.$inferSelect, "xid">, typeof sqlite.changes.$inferSelect>>();
assertSame<Same<typeof pg.cliWrongCodes.$inferSelect, typeof sqlite.cliWrongCodes.$inferSelect>>();
assertSame<Same<typeof pg.keyOutcomes.$inferSelect, typeof sqlite.keyOutcomes.$inferSelect>>();
assertSame<Same<typeof pg.tenants.$inferInsert, typeof sqlite.tenants.$inferInsert>>();
assertSame<Same<typeof pg.apiKeys.$inferInsert, typeof sqlite.apiKeys.$inferInsert>>();
assertSame<Same<typeof pg.cliLogins.$inferInsert, typeof sqlite.cliLogins.$inferInsert>>();

describe("the two schemas", () => {
  test("name the same tables, with the same columns under the same names", () => {
    const tableNames = (schema: object) => Object.keys(schema).sort();
    expect(tableNames(pg)).toEqual(tableNames(sqlite));
    for (const name of tableNames(pg)) {
      const columns = (table: unknown) =>
        Object.entries(getTableColumns(table as never))
          .map(([key, column]) => `${key}:${(column as { name: string }).name}`)
          .filter((column) => column !== "xid:xid")
          .sort();
      expect({ table: name, columns: columns((pg as Record<string, unknown>)[name]) }).toEqual({
        table: name,
        columns: columns((sqlite as Record<string, unknown>)[name]),
      });
    }
  });
});
