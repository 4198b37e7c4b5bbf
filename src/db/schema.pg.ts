/**
 * The same tables for PostgreSQL, column for column (test/db/schema.test.ts proves the row types equal those of
 * schema.sqlite.ts, so the stores are written once). What differs is how each engine keeps a value:
 *
 * - times are `bigint` milliseconds (read back as numbers: every one fits in 53 bits), never timestamps, so both
 *   engines answer to the millisecond;
 * - lists and objects are `json`, not `jsonb`: json keeps a document as it was written (key order included), as
 *   SQLite's text does;
 * - ids and every other text compared or sorted byte-wise use the "C" collation: ids are base62 with both cases and
 *   sort by creation time only in byte order, which a database created with a linguistic default would not give;
 * - the change log carries the id of the transaction that wrote each row (`xid8`), which is what makes reading it
 *   safe while transactions commit out of order (see src/auth/change-feed-pg.ts).
 */
import { sql } from "drizzle-orm";
import {
  bigint,
  bigserial,
  boolean,
  customType,
  index,
  integer,
  json,
  pgTable,
  primaryKey,
  text,
  uniqueIndex,
} from "drizzle-orm/pg-core";
import type { Module } from "../lib/modules.ts";

/** Text compared and ordered byte by byte, whatever the database's default collation. */
const bytewise = customType<{ data: string; driverData: string }>({ dataType: () => 'text COLLATE "C"' });
/** Milliseconds since the epoch, read back as a JavaScript number. */
const millis = (name: string) => bigint(name, { mode: "number" });
/** The 64-bit id of the writing transaction (pg_current_xact_id()), read back as text: it exceeds 53 bits. */
const xid8 = customType<{ data: string; driverData: string }>({ dataType: () => "xid8" });

export const tenants = pgTable(
  "tenants",
  {
    id: bytewise("id").primaryKey(),
    name: text("name").notNull(),
    status: bytewise("status").$type<"active" | "suspended">().notNull(),
    subscription: bytewise("subscription").$type<"active" | "past_due" | "cancelled">().notNull(),
    modules: json("modules").$type<Module[]>().notNull(),
    isDefault: boolean("is_default").notNull().default(false),
    createdAtMs: millis("created_at_ms").notNull(),
    updatedAtMs: millis("updated_at_ms").notNull(),
    /** Set when the tenant was deleted: the record stays for the audit trail; its projects went with it. */
    deletedAtMs: millis("deleted_at_ms"),
  },
  (table) => [uniqueIndex("tenants_single_default").on(table.isDefault).where(sql`is_default`)],
);

export const projects = pgTable(
  "projects",
  {
    id: bytewise("id").primaryKey(),
    tenantId: bytewise("tenant_id")
      .notNull()
      .references(() => tenants.id),
    name: text("name").notNull(),
    isDefault: boolean("is_default").notNull().default(false),
    keyPrefix: bytewise("key_prefix").notNull(),
    allowedOrigins: json("allowed_origins").$type<string[]>().notNull(),
    verificationUrl: text("verification_url"),
    callbackHosts: json("callback_hosts").$type<string[] | null>(),
    ratelimitLimit: integer("ratelimit_limit").notNull(),
    ratelimitWindowSeconds: integer("ratelimit_window_seconds").notNull(),
    sessionTtlSeconds: integer("session_ttl_seconds").notNull(),
    cliSessionTtlSeconds: integer("cli_session_ttl_seconds").notNull().default(600),
    cliKeyTtlSeconds: integer("cli_key_ttl_seconds")
      .notNull()
      .default(90 * 24 * 60 * 60),
    cliPollIntervalSeconds: integer("cli_poll_interval_seconds").notNull().default(5),
    cliDefaultScopes: json("cli_default_scopes").$type<string[] | null>(),
    cliLoopbackHttp: boolean("cli_loopback_http").notNull().default(true),
    createdAtMs: millis("created_at_ms").notNull(),
    updatedAtMs: millis("updated_at_ms").notNull(),
    /** Set when the project was deleted: the record stays for the audit trail; its keys were revoked. */
    deletedAtMs: millis("deleted_at_ms"),
  },
  (table) => [
    index("projects_tenant").on(table.tenantId, table.id),
    uniqueIndex("projects_single_default").on(table.isDefault).where(sql`is_default`),
  ],
);

export const apiKeys = pgTable(
  "api_keys",
  {
    id: bytewise("id").primaryKey(),
    projectId: bytewise("project_id")
      .notNull()
      .references(() => projects.id),
    name: text("name").notNull(),
    scopes: json("scopes").$type<string[]>().notNull(),
    owner: bytewise("owner"),
    isRoot: boolean("is_root").notNull().default(false),
    hint: text("hint").notNull(),
    expiresAtMs: millis("expires_at_ms"),
    revokedAtMs: millis("revoked_at_ms"),
    ratelimitLimit: integer("ratelimit_limit"),
    ratelimitWindowSeconds: integer("ratelimit_window_seconds"),
    /** A disabled key (and every token minted from it) is refused until enabled again; unlike revoking, it returns. */
    enabled: boolean("enabled").notNull().default(true),
    /** The host app's own data about the key (a JSON object, at most 4 KB), returned on read and on verify. */
    meta: json("meta").$type<Record<string, unknown>>(),
    /** The addresses and CIDR ranges the key may be used from (null: any); at most 100. */
    ipAllowlist: json("ip_allowlist").$type<string[]>(),
    lastUsedAtMs: millis("last_used_at_ms"),
    /**
     * The key whose session token created this one, which it never outlives: revoking that key revokes this one
     * (null for a key created with a key, by the root key or at first start).
     */
    parentKeyId: bytewise("parent_key_id"),
    /** Requests the key (and tokens minted from it) made; flushed in batches, never on the request path. */
    usageCount: millis("usage_count").notNull().default(0),
    createdAtMs: millis("created_at_ms").notNull(),
    updatedAtMs: millis("updated_at_ms").notNull(),
  },
  (table) => [
    index("api_keys_project").on(table.projectId, table.id),
    index("api_keys_parent").on(table.parentKeyId),
    uniqueIndex("api_keys_single_root").on(table.isRoot).where(sql`is_root`),
  ],
);

export const keySecrets = pgTable(
  "key_secrets",
  {
    hash: bytewise("hash").primaryKey(),
    keyId: bytewise("key_id")
      .notNull()
      .references(() => apiKeys.id),
    createdAtMs: millis("created_at_ms").notNull(),
    retiresAtMs: millis("retires_at_ms"),
  },
  (table) => [index("key_secrets_key").on(table.keyId)],
);

export const auditEvents = pgTable(
  "audit_events",
  {
    id: bytewise("id").primaryKey(),
    occurredAtMs: millis("occurred_at_ms").notNull(),
    action: bytewise("action").notNull(),
    actorType: bytewise("actor_type").notNull(),
    actorId: bytewise("actor_id"),
    tenantId: bytewise("tenant_id"),
    projectId: bytewise("project_id"),
    targetType: bytewise("target_type").notNull(),
    targetId: bytewise("target_id").notNull(),
    ip: text("ip"),
    userAgent: text("user_agent"),
    requestId: text("request_id"),
    details: json("details").$type<Record<string, unknown>>().notNull(),
  },
  (table) => [index("audit_events_tenant").on(table.tenantId, table.id)],
);

export const signingKeys = pgTable(
  "signing_keys",
  {
    kid: bytewise("kid").primaryKey(),
    algorithm: text("algorithm").notNull(),
    publicJwk: json("public_jwk").$type<Record<string, string>>().notNull(),
    privateKey: text("private_key").notNull(),
    createdAtMs: millis("created_at_ms").notNull(),
    activatesAtMs: millis("activates_at_ms").notNull(),
  },
  (table) => [index("signing_keys_activation").on(table.activatesAtMs)],
);

export const changes = pgTable(
  "changes",
  {
    seq: bigserial("seq", { mode: "number" }).primaryKey(),
    entity: bytewise("entity").$type<"api_key" | "project" | "tenant" | "signing_key">().notNull(),
    entityId: bytewise("entity_id").notNull(),
    changedAtMs: millis("changed_at_ms").notNull(),
    xid: xid8("xid").notNull().default(sql`pg_current_xact_id()`),
  },
  (table) => [index("changes_xid").on(table.xid)],
);

export const cliLogins = pgTable(
  "cli_sessions",
  {
    idHash: bytewise("id_hash").primaryKey(),
    projectId: bytewise("project_id")
      .notNull()
      .references(() => projects.id),
    status: bytewise("status").$type<"pending" | "approved" | "delivered" | "denied" | "expired">().notNull(),
    userCode: bytewise("user_code").notNull(),
    deviceName: text("device_name"),
    callbackUrl: text("callback_url"),
    codeChallenge: bytewise("code_challenge"),
    requestedScopes: json("requested_scopes").$type<string[] | null>(),
    requesterIp: text("requester_ip"),
    requesterUserAgent: text("requester_user_agent"),
    sealingPublicKey: text("sealing_public_key").notNull(),
    pollIntervalSeconds: integer("poll_interval_seconds").notNull(),
    lastPolledAtMs: millis("last_polled_at_ms"),
    createdAtMs: millis("created_at_ms").notNull(),
    expiresAtMs: millis("expires_at_ms").notNull(),
    decidedAtMs: millis("decided_at_ms"),
    approvedBy: text("approved_by"),
    keyId: bytewise("key_id"),
    sealedKey: text("sealed_key"),
    firstDeliveredAtMs: millis("first_delivered_at_ms"),
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
export const keyOutcomes = pgTable(
  "key_outcomes",
  {
    keyId: bytewise("key_id").notNull(),
    hourStartMs: millis("hour_start_ms").notNull(),
    outcome: text("outcome").notNull(),
    count: millis("count").notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.keyId, table.hourStartMs, table.outcome] }),
    index("key_outcomes_hour").on(table.hourStartMs),
  ],
);

export const cliWrongCodes = pgTable(
  "cli_wrong_codes",
  {
    seq: bigserial("seq", { mode: "number" }).primaryKey(),
    projectId: bytewise("project_id").notNull(),
    keyId: bytewise("key_id").notNull(),
    ip: bytewise("ip"),
    atMs: millis("at_ms").notNull(),
  },
  (table) => [
    index("cli_wrong_codes_project").on(table.projectId, table.atMs),
    index("cli_wrong_codes_key").on(table.keyId, table.atMs),
    index("cli_wrong_codes_ip").on(table.ip, table.atMs),
  ],
);
