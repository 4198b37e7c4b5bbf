/**
 * Every table latchkey keeps, for SQLite (the embedded default; schema.pg.ts is the same for PostgreSQL, and
 * schema.ts names the rows both share). Times are integer milliseconds since the Unix epoch (`*_at_ms`), lists are
 * JSON text, booleans are 0/1.
 */
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import type { Module } from "../lib/modules.ts";

export const tenants = sqliteTable(
  "tenants",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    status: text("status", { enum: ["active", "suspended"] }).notNull(),
    subscription: text("subscription", { enum: ["active", "past_due", "cancelled"] }).notNull(),
    modules: text("modules", { mode: "json" }).$type<Module[]>().notNull(),
    isDefault: integer("is_default", { mode: "boolean" }).notNull().default(false),
    createdAtMs: integer("created_at_ms").notNull(),
    updatedAtMs: integer("updated_at_ms").notNull(),
    /** Set when the tenant was deleted: the record stays for the audit trail; its projects went with it. */
    deletedAtMs: integer("deleted_at_ms"),
  },
  (table) => [uniqueIndex("tenants_single_default").on(table.isDefault).where(sql`is_default = 1`)],
);

export const projects = sqliteTable(
  "projects",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id),
    name: text("name").notNull(),
    isDefault: integer("is_default", { mode: "boolean" }).notNull().default(false),
    keyPrefix: text("key_prefix").notNull(),
    allowedOrigins: text("allowed_origins", { mode: "json" }).$type<string[]>().notNull(),
    verificationUrl: text("verification_url"),
    callbackHosts: text("callback_hosts", { mode: "json" }).$type<string[] | null>(),
    ratelimitLimit: integer("ratelimit_limit").notNull(),
    ratelimitWindowSeconds: integer("ratelimit_window_seconds").notNull(),
    sessionTtlSeconds: integer("session_ttl_seconds").notNull(),
    cliSessionTtlSeconds: integer("cli_session_ttl_seconds").notNull().default(600),
    cliKeyTtlSeconds: integer("cli_key_ttl_seconds")
      .notNull()
      .default(90 * 24 * 60 * 60),
    cliPollIntervalSeconds: integer("cli_poll_interval_seconds").notNull().default(5),
    cliDefaultScopes: text("cli_default_scopes", { mode: "json" }).$type<string[] | null>(),
    cliLoopbackHttp: integer("cli_loopback_http", { mode: "boolean" }).notNull().default(true),
    createdAtMs: integer("created_at_ms").notNull(),
    updatedAtMs: integer("updated_at_ms").notNull(),
    /** Set when the project was deleted: the record stays for the audit trail; its keys were revoked. */
    deletedAtMs: integer("deleted_at_ms"),
  },
  (table) => [
    index("projects_tenant").on(table.tenantId, table.id),
    uniqueIndex("projects_single_default").on(table.isDefault).where(sql`is_default = 1`),
  ],
);

export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id")
      .notNull()
      .references(() => projects.id),
    name: text("name").notNull(),
    scopes: text("scopes", { mode: "json" }).$type<string[]>().notNull(),
    owner: text("owner"),
    isRoot: integer("is_root", { mode: "boolean" }).notNull().default(false),
    hint: text("hint").notNull(),
    expiresAtMs: integer("expires_at_ms"),
    revokedAtMs: integer("revoked_at_ms"),
    ratelimitLimit: integer("ratelimit_limit"),
    ratelimitWindowSeconds: integer("ratelimit_window_seconds"),
    /** A disabled key (and every token minted from it) is refused until enabled again; unlike revoking, it returns. */
    enabled: integer("enabled", { mode: "boolean" }).notNull().default(true),
    /** The host app's own data about the key (a JSON object, at most 4 KB), returned on read and on verify. */
    meta: text("meta", { mode: "json" }).$type<Record<string, unknown>>(),
    /** The addresses and CIDR ranges the key may be used from (null: any); at most 100. */
    ipAllowlist: text("ip_allowlist", { mode: "json" }).$type<string[]>(),
    lastUsedAtMs: integer("last_used_at_ms"),
    /**
     * The key whose session token created this one, which it never outlives: revoking that key revokes this one
     * (null for a key created with a key, by the root key or at first start).
     */
    parentKeyId: text("parent_key_id"),
    /** Requests the key (and tokens minted from it) made; flushed in batches, never on the request path. */
    usageCount: integer("usage_count").notNull().default(0),
    createdAtMs: integer("created_at_ms").notNull(),
    updatedAtMs: integer("updated_at_ms").notNull(),
  },
  (table) => [
    index("api_keys_project").on(table.projectId, table.id),
    index("api_keys_parent").on(table.parentKeyId),
    uniqueIndex("api_keys_single_root").on(table.isRoot).where(sql`is_root = 1`),
  ],
);

export const keySecrets = sqliteTable(
  "key_secrets",
  {
    hash: text("hash").primaryKey(),
    keyId: text("key_id")
      .notNull()
      .references(() => apiKeys.id),
    createdAtMs: integer("created_at_ms").notNull(),
    retiresAtMs: integer("retires_at_ms"),
  },
  (table) => [index("key_secrets_key").on(table.keyId)],
);

export const auditEvents = sqliteTable(
  "audit_events",
  {
    id: text("id").primaryKey(),
    occurredAtMs: integer("occurred_at_ms").notNull(),
    action: text("action").notNull(),
    actorType: text("actor_type").notNull(),
    actorId: text("actor_id"),
    tenantId: text("tenant_id"),
    projectId: text("project_id"),
    targetType: text("target_type").notNull(),
    targetId: text("target_id").notNull(),
    ip: text("ip"),
    userAgent: text("user_agent"),
    requestId: text("request_id"),
    details: text("details", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
  },
  (table) => [index("audit_events_tenant").on(table.tenantId, table.id)],
);

/**
 * Token-signing keys (Ed25519). A key is published in the JWKS from creation, signs from `activates_at_ms` until
 * the next key activates, and stays published until every token it could have signed has expired. The private key
 * is a JWK, or `enc:v1:…` (AES-256-GCM under LATCHKEY_MASTER_KEY).
 */
export const signingKeys = sqliteTable(
  "signing_keys",
  {
    kid: text("kid").primaryKey(),
    algorithm: text("algorithm").notNull(),
    publicJwk: text("public_jwk", { mode: "json" }).$type<Record<string, string>>().notNull(),
    privateKey: text("private_key").notNull(),
    createdAtMs: integer("created_at_ms").notNull(),
    activatesAtMs: integer("activates_at_ms").notNull(),
  },
  (table) => [index("signing_keys_activation").on(table.activatesAtMs)],
);

/**
 * The change log every process follows to keep its caches true: each write that can change a credential decision
 * (a key revoked, rotated or updated; a tenant or project changed) appends a row in the same transaction. Processes
 * sharing the file poll it a few times a second and evict what changed, which is how a revocation reaches them all
 * within about a second. Old rows are pruned; a process that missed pruned rows drops all its caches.
 */
export const changes = sqliteTable("changes", {
  seq: integer("seq").primaryKey({ autoIncrement: true }),
  entity: text("entity", { enum: ["api_key", "project", "tenant", "signing_key"] }).notNull(),
  entityId: text("entity_id").notNull(),
  changedAtMs: integer("changed_at_ms").notNull(),
});

/**
 * CLI logins (see src/domain/cli-login/model.ts for the states; on the wire and in this table's name, "CLI login
 * sessions").
 * The login id (`cls_…`) is a capability held by the CLI,
 * so only its SHA-256 is stored. The key minted on approval is kept only as a sealed box that the session id opens
 * (`sealed_key`), and is wiped once acknowledged or 60 seconds after its first delivery.
 */
export const cliLogins = sqliteTable(
  "cli_sessions",
  {
    idHash: text("id_hash").primaryKey(),
    projectId: text("project_id")
      .notNull()
      .references(() => projects.id),
    status: text("status", { enum: ["pending", "approved", "delivered", "denied", "expired"] }).notNull(),
    userCode: text("user_code").notNull(),
    deviceName: text("device_name"),
    callbackUrl: text("callback_url"),
    codeChallenge: text("code_challenge"),
    requestedScopes: text("requested_scopes", { mode: "json" }).$type<string[] | null>(),
    requesterIp: text("requester_ip"),
    requesterUserAgent: text("requester_user_agent"),
    /** X25519 public key (base64url) the minted key is sealed to; its private half is derived from the session id. */
    sealingPublicKey: text("sealing_public_key").notNull(),
    pollIntervalSeconds: integer("poll_interval_seconds").notNull(),
    lastPolledAtMs: integer("last_polled_at_ms"),
    createdAtMs: integer("created_at_ms").notNull(),
    expiresAtMs: integer("expires_at_ms").notNull(),
    decidedAtMs: integer("decided_at_ms"),
    approvedBy: text("approved_by"),
    keyId: text("key_id"),
    sealedKey: text("sealed_key"),
    firstDeliveredAtMs: integer("first_delivered_at_ms"),
  },
  (table) => [
    uniqueIndex("cli_sessions_pending_user_code").on(table.userCode).where(sql`status = 'pending'`),
    index("cli_sessions_status").on(table.status, table.expiresAtMs),
  ],
);

/**
 * Verifications of a key counted by outcome (VALID or the refusing code) per UTC hour, written in batches with the
 * usage counts (src/auth/usage.ts) and kept LATCHKEY_USAGE_RETENTION_DAYS. No foreign key, like cli_wrong_codes.
 */
export const keyOutcomes = sqliteTable(
  "key_outcomes",
  {
    keyId: text("key_id").notNull(),
    hourStartMs: integer("hour_start_ms").notNull(),
    outcome: text("outcome").notNull(),
    count: integer("count").notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.keyId, table.hourStartMs, table.outcome] }),
    index("key_outcomes_hour").on(table.hourStartMs),
  ],
);

/**
 * Wrong user codes tried by approvers (src/domain/cli-login/guesses.ts), one row per miss, kept about an hour: the
 * bounds on guessing count these rows, so they hold across every process and node sharing the database. No foreign
 * keys: a row outlives nothing it names for long, and it must not stand in the way of deleting a key or a project.
 */
export const cliWrongCodes = sqliteTable(
  "cli_wrong_codes",
  {
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    projectId: text("project_id").notNull(),
    keyId: text("key_id").notNull(),
    ip: text("ip"),
    atMs: integer("at_ms").notNull(),
  },
  (table) => [
    index("cli_wrong_codes_project").on(table.projectId, table.atMs),
    index("cli_wrong_codes_key").on(table.keyId, table.atMs),
    index("cli_wrong_codes_ip").on(table.ip, table.atMs),
  ],
);
