/**
 * Configuration: flags over environment variables over defaults, validated with zod. Every bad value is reported
 * at once, each naming its variable and flag, and values are never echoed (one of them is the root key).
 *
 * One table, SETTINGS, declares each setting once: its variable, its flag, its zod type with its default, and its
 * help. The flag parser, the environment reader, the validation (and the names its errors carry), the defaults and
 * the settings part of `--help` are all read from it, so none of them can forget a setting or disagree on a default.
 *
 * The root key and the master key have no flags on purpose: command lines are visible to every user of the machine.
 */

import { availableParallelism } from "node:os";
import { parseArgs } from "node:util";
import { z } from "zod";
import type { StorageConfig } from "../db/open.ts";
import { isWellFormedSecret } from "../domain/keys/secret.ts";
import type { AppSettings } from "../http/app-deps.ts";
import { NO_TRUSTED_PROXIES, parseTrustedProxies } from "../http/client-ip.ts";
import { LOG_LEVELS } from "../lib/logger.ts";
import { integerTextFrom } from "../lib/validation.ts";
import type { CacheSizes } from "./deps.ts";
import { DEFAULT_SQLITE_PATH, NEW_MASTER_KEY_ENV, WORKER_INDEX_ENV } from "./names.ts";

const MAX_WORKERS = 256;
const INTERNAL_ENV = [WORKER_INDEX_ENV, NEW_MASTER_KEY_ENV];

/** The rule for a master key, the configured one and a new one alike. */
export const MasterKeyText = z
  .string()
  .min(32, "must be at least 32 characters (for example: openssl rand -base64 32)");

/** One row of the configuration table. */
export interface SettingRow {
  env: `LATCHKEY_${string}`;
  /** null: environment only. */
  flag: `--${string}` | null;
  /** The type of the text given (flag or variable); its `.default()` is the setting's default. */
  type: z.ZodType;
  help: string;
  /**
   * What --help says in the default's place, only for a setting whose default says nothing by itself: none (the
   * setting is optional), or the empty text. A setting with a default shows that default.
   */
  whenUnset?: string;
}

/** The configuration table; `--help` is printed from it and the README's table is checked against it. */
export const SETTINGS = {
  port: {
    env: "LATCHKEY_PORT",
    flag: "--port",
    type: integerTextFrom(0, 65535).default(8787),
    help: "TCP port to listen on (0 picks a free one)",
  },
  host: {
    env: "LATCHKEY_HOST",
    flag: "--host",
    type: z.string().min(1).max(255).default("127.0.0.1"),
    help: "Interface to bind (0.0.0.0 for a sidecar reached from outside)",
  },
  db: {
    env: "LATCHKEY_DB",
    flag: "--db",
    type: z.string().min(1).optional(),
    help: "SQLite file (created if missing); not with LATCHKEY_DATABASE_URL",
    whenUnset: DEFAULT_SQLITE_PATH,
  },
  databaseUrl: {
    env: "LATCHKEY_DATABASE_URL",
    flag: "--database-url",
    type: z
      .string()
      .refine((text) => URL.canParse(text) && /^postgres(ql)?:$/.test(new URL(text).protocol), {
        message: "must be a postgres:// URL",
      })
      .optional(),
    help: "PostgreSQL URL (postgres://user:password@host:5432/db); every node given it shares its state",
    whenUnset: "not set: SQLite (LATCHKEY_DB)",
  },
  redisUrl: {
    env: "LATCHKEY_REDIS_URL",
    flag: "--redis-url",
    type: z
      .string()
      .refine((text) => URL.canParse(text) && /^rediss?:$/.test(new URL(text).protocol), {
        message: "must be a redis:// or rediss:// URL",
      })
      .optional(),
    help: "Redis URL (redis://[:password@]host:6379[/db], rediss:// for TLS); rate-limit buckets shared by every node",
    whenUnset: "not set: buckets per process",
  },
  redisKeyPrefix: {
    env: "LATCHKEY_REDIS_KEY_PREFIX",
    flag: "--redis-key-prefix",
    type: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, { message: "must be 1 to 64 letters, digits, _, . or -" })
      .default("latchkey"),
    help: "Prefix of latchkey's Redis keys, so several installations can share one Redis",
  },
  publicUrl: {
    env: "LATCHKEY_PUBLIC_URL",
    flag: "--public-url",
    type: z
      .string()
      .refine((text) => URL.canParse(text) && /^https?:$/.test(new URL(text).protocol), "must be an http(s) URL")
      .transform((text) => text.replace(/\/+$/, ""))
      .optional(),
    help: "URL clients reach latchkey at (links, token issuer)",
    whenUnset: "http://localhost:<port>",
  },
  rootKey: {
    env: "LATCHKEY_ROOT_KEY",
    flag: null,
    type: z
      .string()
      .refine(isWellFormedSecret, "must be a latchkey secret; generate one with `latchkey keygen`")
      .optional(),
    help: "Root key to create on first start (from `latchkey keygen`); env only",
    whenUnset: "generated and printed once",
  },
  workers: {
    env: "LATCHKEY_WORKERS",
    flag: "--workers",
    type: z
      .union([z.literal("auto"), integerTextFrom(1, MAX_WORKERS)])
      .default(1)
      .transform((workers) => (workers === "auto" ? Math.min(MAX_WORKERS, availableParallelism()) : workers))
      .refine((workers) => workers === 1 || process.platform === "linux", {
        message: "more than one worker needs Linux (SO_REUSEPORT spreads connections over processes there only)",
      }),
    help: "Processes serving the port (Linux, SO_REUSEPORT), buckets exact across them; auto: one per CPU",
  },
  logLevel: {
    env: "LATCHKEY_LOG_LEVEL",
    flag: "--log-level",
    type: z.enum(LOG_LEVELS).default("info"),
    help: "debug, info, warn, error or silent",
  },
  bodyLimitBytes: {
    env: "LATCHKEY_BODY_LIMIT_BYTES",
    flag: "--body-limit-bytes",
    type: integerTextFrom(1024, 16 * 1024 * 1024).default(65536),
    help: "Largest request body accepted (413 above)",
  },
  masterKey: {
    env: "LATCHKEY_MASTER_KEY",
    flag: null,
    type: MasterKeyText.optional(),
    help: "Seals private signing keys at rest (32+ characters); env only",
    whenUnset: "not set: keys stored unsealed",
  },
  signingKeyRotationDays: {
    env: "LATCHKEY_SIGNING_KEY_ROTATION_DAYS",
    flag: "--signing-key-rotation-days",
    type: integerTextFrom(0, 3650).default(30),
    help: "Rotate the token-signing key automatically after this many days (0: never)",
  },
  trustedProxies: {
    env: "LATCHKEY_TRUSTED_PROXIES",
    flag: "--trusted-proxies",
    type: z
      .string()
      .refine((text) => parseTrustedProxies(text).ok, "must be comma-separated IP addresses or CIDR ranges")
      .default(""),
    help: "Comma-separated IPs or CIDRs whose X-Forwarded-For is believed",
    whenUnset: "none",
  },
  authFailuresPerMinute: {
    env: "LATCHKEY_AUTH_FAILURES_PER_MINUTE",
    flag: "--auth-failures-per-minute",
    type: integerTextFrom(1, 1_000_000).default(60),
    help: "Failed authentications per client address per minute before 429",
  },
  cliStartsPerMinute: {
    env: "LATCHKEY_CLI_STARTS_PER_MINUTE",
    flag: "--cli-starts-per-minute",
    type: integerTextFrom(1, 1_000_000).default(20),
    help: "CLI login sessions one client address may start per minute",
  },
  keyCacheEntries: {
    env: "LATCHKEY_KEY_CACHE_ENTRIES",
    flag: "--key-cache-entries",
    type: integerTextFrom(100, 10_000_000).default(25_000),
    help: "API keys held in memory (LRU, about 1 KB each)",
  },
  tokenCacheEntries: {
    env: "LATCHKEY_TOKEN_CACHE_ENTRIES",
    flag: "--token-cache-entries",
    type: integerTextFrom(100, 10_000_000).default(10_000),
    help: "Verified session tokens held in memory (LRU, never past exp)",
  },
  ratelimitBuckets: {
    env: "LATCHKEY_RATELIMIT_BUCKETS",
    flag: "--ratelimit-buckets",
    type: integerTextFrom(100, 10_000_000).default(50_000),
    help: "Rate-limit buckets held in memory (LRU, about 0.3 KB each)",
  },
  usageFlushSeconds: {
    env: "LATCHKEY_USAGE_FLUSH_SECONDS",
    flag: "--usage-flush-seconds",
    type: integerTextFrom(1, 3600).default(60),
    help: "How often last_used_at and usage counts are written",
  },
  usageRetentionDays: {
    env: "LATCHKEY_USAGE_RETENTION_DAYS",
    flag: "--usage-retention-days",
    type: integerTextFrom(1, 3650).default(90),
    help: "How long a key's verifications by outcome (GET /v1/keys/:id/usage) are kept",
  },
  changePollMilliseconds: {
    env: "LATCHKEY_CHANGE_POLL_MS",
    flag: "--change-poll-ms",
    type: integerTextFrom(50, 5000).default(250),
    help: "How often the change log is read (revocations from other processes)",
  },
} satisfies Record<string, SettingRow>;

export type SettingKey = keyof typeof SETTINGS;

const ConfigSchema = z.object(
  Object.fromEntries(Object.entries(SETTINGS).map(([key, row]) => [key, row.type])) as {
    [Key in SettingKey]: (typeof SETTINGS)[Key]["type"];
  },
);

export type ServerConfig = z.output<typeof ConfigSchema>;

/** Every setting as --help and the README show it: names, what it does, and its default (or what unset means). */
export interface ConfigSetting {
  key: SettingKey;
  env: string;
  flag: string | null;
  description: string;
  defaultText: string;
}

/**
 * The configuration is parsed once or twice a process: zod's compiled fast path (code generated on an object's first
 * parse, for the parses after it) would cost more to build than it could save.
 */
const ONCE = { jitless: true } as const;

export const DEFAULT_CONFIG: ServerConfig = ConfigSchema.parse({}, ONCE);

const SETTING_KEYS = Object.keys(SETTINGS) as SettingKey[];

export const CONFIG_SETTINGS: readonly ConfigSetting[] = SETTING_KEYS.map((key) => {
  const row: SettingRow = SETTINGS[key];
  return {
    key,
    env: row.env,
    flag: row.flag,
    description: row.help,
    defaultText: row.whenUnset ?? String(DEFAULT_CONFIG[key]),
  };
});

/** How an error names a setting: its variable, and its flag when it has one. */
function namesOf(row: SettingRow): string {
  return row.flag === null ? row.env : `${row.env} / ${row.flag}`;
}

export type ConfigResult = { ok: true; config: ServerConfig; warnings: string[] } | { ok: false; problems: string[] };

export function loadConfig(flags: readonly string[], env: Record<string, string | undefined>): ConfigResult {
  const problems: string[] = [];
  const warnings: string[] = [];
  const raw: Record<string, string> = {};
  for (const key of SETTING_KEYS) {
    const value = env[SETTINGS[key].env];
    if (value !== undefined && value !== "") raw[key] = value;
  }
  for (const problem of readFlags(flags, raw)) problems.push(problem);
  const known = new Set([...CONFIG_SETTINGS.map((setting) => setting.env), ...INTERNAL_ENV]);
  for (const name of Object.keys(env)) {
    if (name.startsWith("LATCHKEY_") && !known.has(name)) warnings.push(`${name} is not a latchkey setting; ignored`);
  }
  const parsed = ConfigSchema.safeParse(raw, ONCE);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = String(issue.path[0]);
      problems.push(`${Object.hasOwn(SETTINGS, key) ? namesOf(SETTINGS[key as SettingKey]) : key}: ${issue.message}`);
    }
  }
  if (parsed.success && parsed.data.db !== undefined && parsed.data.databaseUrl !== undefined) {
    problems.push(
      `${namesOf(SETTINGS.db)} and ${namesOf(SETTINGS.databaseUrl)}: give one, a SQLite file or a PostgreSQL URL`,
    );
  }
  if (problems.length > 0 || !parsed.success) return { ok: false, problems };
  return { ok: true, config: parsed.data, warnings };
}

/** Where the state lives: the PostgreSQL URL when one is given, else the SQLite file. */
export function storageConfigOf(config: ServerConfig): StorageConfig {
  return { databaseUrl: config.databaseUrl, sqlitePath: config.db ?? DEFAULT_SQLITE_PATH };
}

/** The app's settings and cache sizes from a configuration (the defaults when nothing is set). */
export function runtimeOf(
  config: ServerConfig,
  publicUrl: string,
  version: string,
): { settings: AppSettings; cacheSizes: CacheSizes } {
  const trusted = parseTrustedProxies(config.trustedProxies);
  return {
    settings: {
      publicUrl,
      bodyLimitBytes: config.bodyLimitBytes,
      version,
      signingKeyRotationDays: config.signingKeyRotationDays,
      trustedProxies: trusted.ok ? trusted.proxies : NO_TRUSTED_PROXIES,
      authFailurePolicy: { limit: config.authFailuresPerMinute, windowSeconds: 60 },
      cliStartPolicy: { limit: config.cliStartsPerMinute, windowSeconds: 60 },
      fastLane: true,
    },
    cacheSizes: { keys: config.keyCacheEntries, tokens: config.tokenCacheEntries, buckets: config.ratelimitBuckets },
  };
}

export function defaultPublicUrl(host: string, port: number): string {
  const reachableHost = host === "0.0.0.0" || host === "::" || host === "127.0.0.1" ? "localhost" : host;
  return `http://${reachableHost.includes(":") ? `[${reachableHost}]` : reachableHost}:${port}`;
}

/**
 * Flags into `raw` (by setting key), with node:util's parser. It is run leniently so that every problem is reported
 * at once: an unknown flag takes the argument after it as its value (so `--bogus 1` is one problem, not two), a
 * known flag without a value is named, and stray arguments are counted but never echoed (one may be a pasted secret).
 */
function readFlags(flags: readonly string[], raw: Record<string, string>): string[] {
  const withFlags = CONFIG_SETTINGS.filter((setting) => setting.flag !== null);
  const { tokens } = parseArgs({
    args: [...flags],
    options: Object.fromEntries(withFlags.map((setting) => [setting.flag!.slice(2), { type: "string" as const }])),
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const problems: string[] = [];
  for (let index = 0; index < tokens.length; index++) {
    const token = tokens[index]!;
    if (token.kind === "positional")
      problems.push(`argument ${token.index + 1}: unexpected (settings are --name value)`);
    if (token.kind !== "option") continue;
    const setting = withFlags.find((candidate) => candidate.flag === token.rawName);
    if (!setting) {
      problems.push(`${token.rawName}: unknown flag (see --help)`);
      if (token.inlineValue !== true && tokens[index + 1]?.kind === "positional") index++;
    } else if (token.value === undefined) {
      problems.push(`${setting.flag}: needs a value`);
    } else {
      raw[setting.key] = token.value;
    }
  }
  return problems;
}
