/**
 * Configuration: flags over environment variables over defaults, validated with zod. Every bad value is reported
 * at once, each naming its variable and flag, and values are never echoed (one of them is the root key).
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

export interface ConfigSetting {
  key: keyof ServerConfig;
  env: string;
  flag: string | null;
  description: string;
  defaultText: string;
}

/** The configuration table; the README's table and `--help` are printed from it. */
export const CONFIG_SETTINGS: readonly ConfigSetting[] = [
  {
    key: "port",
    env: "LATCHKEY_PORT",
    flag: "--port",
    description: "TCP port to listen on (0 picks a free one)",
    defaultText: "8787",
  },
  {
    key: "host",
    env: "LATCHKEY_HOST",
    flag: "--host",
    description: "Interface to bind (0.0.0.0 for a sidecar reached from outside)",
    defaultText: "127.0.0.1",
  },
  {
    key: "db",
    env: "LATCHKEY_DB",
    flag: "--db",
    description: "SQLite file (created if missing); not with LATCHKEY_DATABASE_URL",
    defaultText: "./latchkey.db",
  },
  {
    key: "databaseUrl",
    env: "LATCHKEY_DATABASE_URL",
    flag: "--database-url",
    description: "PostgreSQL URL (postgres://user:password@host:5432/db); every node given it shares its state",
    defaultText: "not set: SQLite (LATCHKEY_DB)",
  },
  {
    key: "redisUrl",
    env: "LATCHKEY_REDIS_URL",
    flag: "--redis-url",
    description:
      "Redis URL (redis://[:password@]host:6379[/db], rediss:// for TLS); rate-limit buckets shared by every node",
    defaultText: "not set: buckets per process",
  },
  {
    key: "redisKeyPrefix",
    env: "LATCHKEY_REDIS_KEY_PREFIX",
    flag: "--redis-key-prefix",
    description: "Prefix of latchkey's Redis keys, so several installations can share one Redis",
    defaultText: "latchkey",
  },
  {
    key: "publicUrl",
    env: "LATCHKEY_PUBLIC_URL",
    flag: "--public-url",
    description: "URL clients reach latchkey at (links, token issuer)",
    defaultText: "http://localhost:<port>",
  },
  {
    key: "rootKey",
    env: "LATCHKEY_ROOT_KEY",
    flag: null,
    description: "Root key to create on first start (from `latchkey keygen`); env only",
    defaultText: "generated and printed once",
  },
  {
    key: "workers",
    env: "LATCHKEY_WORKERS",
    flag: "--workers",
    description: "Processes serving the port (Linux, SO_REUSEPORT), buckets exact across them; auto: one per CPU",
    defaultText: "1",
  },
  {
    key: "logLevel",
    env: "LATCHKEY_LOG_LEVEL",
    flag: "--log-level",
    description: "debug, info, warn, error or silent",
    defaultText: "info",
  },
  {
    key: "bodyLimitBytes",
    env: "LATCHKEY_BODY_LIMIT_BYTES",
    flag: "--body-limit-bytes",
    description: "Largest request body accepted (413 above)",
    defaultText: "65536",
  },
  {
    key: "masterKey",
    env: "LATCHKEY_MASTER_KEY",
    flag: null,
    description: "Seals private signing keys at rest (32+ characters); env only",
    defaultText: "not set: keys stored unsealed",
  },
  {
    key: "signingKeyRotationDays",
    env: "LATCHKEY_SIGNING_KEY_ROTATION_DAYS",
    flag: "--signing-key-rotation-days",
    description: "Rotate the token-signing key automatically after this many days (0: never)",
    defaultText: "30",
  },
  {
    key: "trustedProxies",
    env: "LATCHKEY_TRUSTED_PROXIES",
    flag: "--trusted-proxies",
    description: "Comma-separated IPs or CIDRs whose X-Forwarded-For is believed",
    defaultText: "none",
  },
  {
    key: "authFailuresPerMinute",
    env: "LATCHKEY_AUTH_FAILURES_PER_MINUTE",
    flag: "--auth-failures-per-minute",
    description: "Failed authentications per client address per minute before 429",
    defaultText: "60",
  },
  {
    key: "cliStartsPerMinute",
    env: "LATCHKEY_CLI_STARTS_PER_MINUTE",
    flag: "--cli-starts-per-minute",
    description: "CLI login sessions one client address may start per minute",
    defaultText: "20",
  },
  {
    key: "keyCacheEntries",
    env: "LATCHKEY_KEY_CACHE_ENTRIES",
    flag: "--key-cache-entries",
    description: "API keys held in memory (LRU, about 1 KB each)",
    defaultText: "25000",
  },
  {
    key: "tokenCacheEntries",
    env: "LATCHKEY_TOKEN_CACHE_ENTRIES",
    flag: "--token-cache-entries",
    description: "Verified session tokens held in memory (LRU, never past exp)",
    defaultText: "10000",
  },
  {
    key: "ratelimitBuckets",
    env: "LATCHKEY_RATELIMIT_BUCKETS",
    flag: "--ratelimit-buckets",
    description: "Rate-limit buckets held in memory (LRU, about 0.3 KB each)",
    defaultText: "50000",
  },
  {
    key: "usageFlushSeconds",
    env: "LATCHKEY_USAGE_FLUSH_SECONDS",
    flag: "--usage-flush-seconds",
    description: "How often last_used_at and usage counts are written",
    defaultText: "60",
  },
  {
    key: "changePollMilliseconds",
    env: "LATCHKEY_CHANGE_POLL_MS",
    flag: "--change-poll-ms",
    description: "How often the change log is read (revocations from other processes)",
    defaultText: "250",
  },
];

export const MAX_WORKERS = 256;
/** Set by a primary process for the workers it starts (src/app/workers.ts); not a setting. */
export const WORKER_INDEX_ENV = "LATCHKEY_WORKER_INDEX";
/** The master key `latchkey master-key rotate` seals under; read by that command only, not a setting. */
export const NEW_MASTER_KEY_ENV = "LATCHKEY_NEW_MASTER_KEY";
const INTERNAL_ENV = [WORKER_INDEX_ENV, NEW_MASTER_KEY_ENV];

/** The rule for a master key, the configured one and a new one alike. */
export const MasterKeyText = z
  .string()
  .min(32, "must be at least 32 characters (for example: openssl rand -base64 32)");

const ConfigSchema = z.object({
  port: integerTextFrom(0, 65535).default(8787),
  host: z.string().min(1).max(255).default("127.0.0.1"),
  db: z.string().min(1).optional(),
  databaseUrl: z
    .string()
    .refine((text) => URL.canParse(text) && /^postgres(ql)?:$/.test(new URL(text).protocol), {
      message: "must be a postgres:// URL",
    })
    .optional(),
  redisKeyPrefix: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, { message: "must be 1 to 64 letters, digits, _, . or -" })
    .default("latchkey"),
  redisUrl: z
    .string()
    .refine((text) => URL.canParse(text) && /^rediss?:$/.test(new URL(text).protocol), {
      message: "must be a redis:// or rediss:// URL",
    })
    .optional(),
  publicUrl: z
    .string()
    .refine((text) => URL.canParse(text) && /^https?:$/.test(new URL(text).protocol), "must be an http(s) URL")
    .transform((text) => text.replace(/\/+$/, ""))
    .optional(),
  rootKey: z
    .string()
    .refine(isWellFormedSecret, "must be a latchkey secret; generate one with `latchkey keygen`")
    .optional(),
  workers: z
    .union([z.literal("auto"), integerTextFrom(1, MAX_WORKERS)])
    .default(1)
    .transform((workers) => (workers === "auto" ? Math.min(MAX_WORKERS, availableParallelism()) : workers))
    .refine((workers) => workers === 1 || process.platform === "linux", {
      message: "more than one worker needs Linux (SO_REUSEPORT spreads connections over processes there only)",
    }),
  logLevel: z.enum(LOG_LEVELS).default("info"),
  bodyLimitBytes: integerTextFrom(1024, 16 * 1024 * 1024).default(65536),
  masterKey: MasterKeyText.optional(),
  signingKeyRotationDays: integerTextFrom(0, 3650).default(30),
  trustedProxies: z
    .string()
    .refine((text) => parseTrustedProxies(text).ok, "must be comma-separated IP addresses or CIDR ranges")
    .default(""),
  authFailuresPerMinute: integerTextFrom(1, 1_000_000).default(60),
  cliStartsPerMinute: integerTextFrom(1, 1_000_000).default(20),
  keyCacheEntries: integerTextFrom(100, 10_000_000).default(25_000),
  tokenCacheEntries: integerTextFrom(100, 10_000_000).default(10_000),
  ratelimitBuckets: integerTextFrom(100, 10_000_000).default(50_000),
  usageFlushSeconds: integerTextFrom(1, 3600).default(60),
  changePollMilliseconds: integerTextFrom(50, 5000).default(250),
});

export type ServerConfig = z.output<typeof ConfigSchema>;

export type ConfigResult = { ok: true; config: ServerConfig; warnings: string[] } | { ok: false; problems: string[] };

export function loadConfig(flags: readonly string[], env: Record<string, string | undefined>): ConfigResult {
  const problems: string[] = [];
  const warnings: string[] = [];
  const raw: Record<string, string> = {};
  for (const setting of CONFIG_SETTINGS) {
    const value = env[setting.env];
    if (value !== undefined && value !== "") raw[setting.key] = value;
  }
  for (const problem of readFlags(flags, raw)) problems.push(problem);
  const known = new Set([...CONFIG_SETTINGS.map((setting) => setting.env), ...INTERNAL_ENV]);
  for (const name of Object.keys(env)) {
    if (name.startsWith("LATCHKEY_") && !known.has(name)) warnings.push(`${name} is not a latchkey setting; ignored`);
  }
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const setting = CONFIG_SETTINGS.find((candidate) => candidate.key === issue.path[0]);
      const names = setting ? [setting.env, setting.flag].filter(Boolean).join(" / ") : String(issue.path[0]);
      problems.push(`${names}: ${issue.message}`);
    }
  }
  if (parsed.success && parsed.data.db !== undefined && parsed.data.databaseUrl !== undefined) {
    problems.push(
      "LATCHKEY_DB / --db and LATCHKEY_DATABASE_URL / --database-url: give one, a SQLite file or a PostgreSQL URL",
    );
  }
  if (problems.length > 0 || !parsed.success) return { ok: false, problems };
  return { ok: true, config: parsed.data, warnings };
}

export const DEFAULT_SQLITE_PATH = "./latchkey.db";

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

export const DEFAULT_CONFIG: ServerConfig = ConfigSchema.parse({});

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
