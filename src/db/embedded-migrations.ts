/**
 * A Bun macro: it runs when the code is bundled (and when `bun` transpiles it), reading drizzle-kit's journal and SQL
 * files of one dialect from ./drizzle/<dialect> so they travel inside the compiled binary. drizzle's own migrator
 * reads the folder at run time, which a single-file binary does not have.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface EmbeddedMigration {
  tag: string;
  sql: string;
}

interface DrizzleJournal {
  entries: { idx: number; tag: string }[];
}

export function readMigrationsAtBuildTime(dialect: "sqlite" | "pg"): EmbeddedMigration[] {
  const folder = join(import.meta.dir, "..", "..", "drizzle", dialect);
  const journal = JSON.parse(readFileSync(join(folder, "meta", "_journal.json"), "utf8")) as DrizzleJournal;
  return [...journal.entries]
    .sort((left, right) => left.idx - right.idx)
    .map((entry) => ({ tag: entry.tag, sql: readFileSync(join(folder, `${entry.tag}.sql`), "utf8") }));
}
