/**
 * Whether an error means the database cannot answer now (as opposed to a query that is wrong): the connection was
 * refused, lost or timed out, the server is shutting down or out of connections, SQLite stayed locked past its busy
 * timeout or was closed. Requests that meet one are answered 503 UNAVAILABLE with Retry-After, never 500, and never
 * an answer from a cache that can no longer be confirmed.
 */
const UNAVAILABLE_CODES = new Set([
  // the socket
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
  // SQLite, locked by another process for longer than busy_timeout
  "SQLITE_BUSY",
  // PostgreSQL: shutting down (admin, crash), cannot connect now, idle session timeout, read-only (failover)
  "57P01",
  "57P02",
  "57P03",
  "57P05",
  "25006",
]);

/**
 * node-postgres reports a lost or unreachable connection by message alone (no code); these are its own words.
 */
const UNAVAILABLE_MESSAGES = new RegExp(
  `^(${[
    "Connection terminated",
    "timeout expired",
    "Query read timeout",
    "timeout exceeded when trying to connect",
    "Cannot use a pool after calling end",
    "Client has encountered a connection error",
    "Client was closed and is not queryable",
  ].join("|")})`,
);

/** SQLSTATE classes: 08 connection exception, 53 insufficient resources (too many connections, disk full). */
const UNAVAILABLE_CLASSES = new Set(["08", "53"]);

export function isStorageUnavailable(error: unknown): boolean {
  for (let current = error, depth = 0; current instanceof Object && depth < 4; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && (UNAVAILABLE_CODES.has(code) || isUnavailableClass(code))) return true;
    // bun:sqlite, once the database is closed.
    if (current instanceof RangeError && /closed database/i.test(current.message)) return true;
    if (current instanceof Error && typeof code !== "string" && UNAVAILABLE_MESSAGES.test(current.message)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

function isUnavailableClass(code: string): boolean {
  return /^[0-9A-Z]{5}$/.test(code) && UNAVAILABLE_CLASSES.has(code.slice(0, 2));
}
