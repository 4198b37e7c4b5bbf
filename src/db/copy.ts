/**
 * Copying every row of one latchkey database into another, empty one: how a team that started on the SQLite file
 * moves to PostgreSQL (`latchkey migrate-to --database-url …`). Keys keep their hashes, signing keys stay sealed
 * under the same LATCHKEY_MASTER_KEY, the audit trail and CLI logins come along; the change log does not (it only
 * tells running nodes what to drop, and the new database starts with no node caching anything), nor do the wrong
 * user codes of the last hour (they bound guessing while servers run, and servers are stopped for the copy).
 *
 * The copy is one write transaction on the target: it lands whole or not at all. The target must be empty, so a
 * copy never mixes two installations; run it with the servers stopped, so nothing is written to the source meanwhile.
 */
import { count } from "drizzle-orm";
import type { Storage } from "./storage.ts";

/** In an order where every row's references are already there. */
const TABLES = [
  "tenants",
  "projects",
  "apiKeys",
  "keySecrets",
  "signingKeys",
  "auditEvents",
  "cliLogins",
  "keyOutcomes",
] as const;
type CopiedTable = (typeof TABLES)[number];
/** Rows per INSERT, well under PostgreSQL's 65,535 parameters for the widest table. */
const CHUNK_ROWS = 200;

export class CopyError extends Error {
  override name = "CopyError";
}

export type CopyReport = Record<CopiedTable, number>;

export async function copyDatabase(source: Storage, target: Storage, nowMilliseconds: number): Promise<CopyReport> {
  await source.migrate(nowMilliseconds);
  await target.migrate(nowMilliseconds);
  const report = {} as CopyReport;
  await target.writeTransaction(async (tx) => {
    const [existing] = await tx.drizzle.select({ tenants: count() }).from(tx.tables.tenants);
    if ((existing?.tenants ?? 0) > 0) {
      throw new CopyError(
        `the target database already holds latchkey data (${existing!.tenants} tenants); copy into an empty one`,
      );
    }
    for (const name of TABLES) {
      // One loop over tables of different row types, the same in both schemas (test/db/schema.test.ts).
      // biome-ignore lint/suspicious/noExplicitAny: see above.
      const rows: any[] = await source.reader.drizzle.select().from(source.reader.tables[name]);
      for (let start = 0; start < rows.length; start += CHUNK_ROWS) {
        await tx.drizzle.insert(tx.tables[name]).values(rows.slice(start, start + CHUNK_ROWS));
      }
      report[name] = rows.length;
    }
  });
  for (const name of TABLES) {
    const [copied] = await target.reader.drizzle.select({ rows: count() }).from(target.reader.tables[name]);
    if (copied?.rows !== report[name]) {
      throw new CopyError(`${name}: ${report[name]} rows read but ${copied?.rows ?? 0} found after the copy`);
    }
  }
  return report;
}
