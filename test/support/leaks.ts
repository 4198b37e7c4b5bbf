/** The leak check shared by tests and scripts: no secret handed out may appear where it must not. */
import { existsSync, readFileSync } from "node:fs";

/**
 * Secrets are looked up by their first ANCHOR_LENGTH characters at every position of a place, so a scan costs one
 * pass over each place however many secrets there are (a 1,000-cycle crash run hands out some 80,000 secrets and
 * leaves a 70 MB database; a search per secret took many minutes). Every secret handed out is far longer than this.
 */
const ANCHOR_LENGTH = 12;

/** Fails naming where a secret was found (by its first characters only: the report must not leak it either). */
export function assertNoLeaks(secrets: Iterable<string>, places: Record<string, string | Buffer>): void {
  const byAnchor = new Map<string, string[]>();
  const short: string[] = [];
  for (const secret of new Set(secrets)) {
    if (secret.length < ANCHOR_LENGTH) {
      short.push(secret);
      continue;
    }
    const anchor = secret.slice(0, ANCHOR_LENGTH);
    const list = byAnchor.get(anchor);
    if (list) list.push(secret);
    else byAnchor.set(anchor, [secret]);
  }
  const found: string[] = [];
  for (const [place, content] of Object.entries(places)) {
    // Secrets are ASCII; latin1 maps each byte to one character, so positions and matches carry over exactly.
    const text = typeof content === "string" ? content : content.toString("latin1");
    for (const secret of short) if (text.includes(secret)) found.push(`${secret.slice(0, 12)}… in ${place}`);
    if (byAnchor.size === 0) continue;
    const reported = new Set<string>();
    for (let index = 0; index + ANCHOR_LENGTH <= text.length; index++) {
      const candidates = byAnchor.get(text.slice(index, index + ANCHOR_LENGTH));
      if (candidates === undefined) continue;
      for (const secret of candidates) {
        if (!reported.has(secret) && text.startsWith(secret, index)) {
          reported.add(secret);
          found.push(`${secret.slice(0, 12)}… in ${place}`);
        }
      }
    }
  }
  if (found.length > 0) throw new Error(`secrets leaked: ${found.join(", ")}`);
}

/** The database file and its WAL, as bytes (deleted rows linger in free pages; they count). */
export function readDatabaseFiles(path: string): Buffer {
  return Buffer.concat(
    ["", "-wal"].filter((suffix) => existsSync(path + suffix)).map((suffix) => readFileSync(path + suffix)),
  );
}
