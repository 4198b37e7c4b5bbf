/** The leak check shared by tests and scripts: no secret handed out may appear where it must not. */
import { existsSync, readFileSync } from "node:fs";

/** Fails naming where a secret was found (by its first characters only: the report must not leak it either). */
export function assertNoLeaks(secrets: Iterable<string>, places: Record<string, string | Buffer>): void {
  const found: string[] = [];
  for (const secret of secrets) {
    for (const [place, content] of Object.entries(places)) {
      const hit = typeof content === "string" ? content.includes(secret) : content.includes(Buffer.from(secret));
      if (hit) found.push(`${secret.slice(0, 12)}… in ${place}`);
    }
  }
  if (found.length > 0) throw new Error(`secrets leaked: ${found.join(", ")}`);
}

/** The database file and its WAL, as bytes (deleted rows linger in free pages; they count). */
export function readDatabaseFiles(path: string): Buffer {
  return Buffer.concat(["", "-wal"].filter((suffix) => existsSync(path + suffix)).map((suffix) => readFileSync(path + suffix)));
}
