/**
 * The tables as the rest of latchkey sees them, whatever the engine. There are two schemas, one per dialect
 * (schema.sqlite.ts, the embedded default, and schema.pg.ts), because drizzle has no dialect-neutral schema; their
 * row types are the same (test/db/schema.test.ts fails the build if they drift), and every row type below is that
 * shared shape.
 *
 * Every table latchkey keeps: times are integer milliseconds since the Unix epoch (`*_at_ms`), lists and objects are
 * JSON. Secrets are never stored: `key_secrets.hash` is sha256(secret) in hex. A key may have several secrets at once
 * only during a rotation's grace period; the retired secret carries the time at which it stops working.
 */
import type * as pg from "./schema.pg.ts";

/**
 * The tables the stores name. At run time they are the dialect's own table objects (Storage.tables); stores are
 * typed against the PostgreSQL ones, whose query builders offer only what both engines run (no SQLite-only `.get()`,
 * `.all()` or `.run()`), so a store that type-checks runs on both.
 */
export type Tables = typeof pg;

export type TenantRow = typeof pg.tenants.$inferSelect;
export type ProjectRow = typeof pg.projects.$inferSelect;
export type ApiKeyRow = typeof pg.apiKeys.$inferSelect;
export type KeySecretRow = typeof pg.keySecrets.$inferSelect;
export type AuditEventRow = typeof pg.auditEvents.$inferSelect;
export type SigningKeyRow = typeof pg.signingKeys.$inferSelect;
export type CliLoginRow = typeof pg.cliLogins.$inferSelect;
export type KeyOutcomeRow = typeof pg.keyOutcomes.$inferSelect;
/** A change-log row; PostgreSQL's also carries the writing transaction's id, which only its change feed reads. */
export type ChangeRow = Omit<typeof pg.changes.$inferSelect, "xid">;
