import { describe, expect, test } from "bun:test";
import { commandHelp } from "../src/app/commands/help.ts";
import { COMMANDS } from "../src/app/commands/table.ts";
import {
  CONFIG_SETTINGS,
  DEFAULT_CONFIG,
  loadConfig,
  SETTINGS,
  type ServerConfig,
  type SettingKey,
  type SettingRow,
  storageConfigOf,
} from "../src/app/config.ts";
import { generateSecret, ROOT_KEY_PREFIX } from "../src/domain/keys/secret.ts";

describe("configuration", () => {
  test("defaults need nothing set", () => {
    const result = loadConfig([], {});
    expect(result).toEqual({
      ok: true,
      warnings: [],
      config: {
        port: 8787,
        host: "127.0.0.1",
        redisKeyPrefix: "latchkey",
        workers: 1,
        logLevel: "info",
        bodyLimitBytes: 65536,
        signingKeyRotationDays: 30,
        trustedProxies: "",
        authFailuresPerMinute: 60,
        cliStartsPerMinute: 20,
        keyCacheEntries: 25_000,
        tokenCacheEntries: 10_000,
        ratelimitBuckets: 50_000,
        usageFlushSeconds: 60,
        usageRetentionDays: 90,
        changePollMilliseconds: 250,
      },
    });
  });

  test("PostgreSQL and Redis URLs are checked; a SQLite file and a database URL together are refused", () => {
    const good = loadConfig(
      ["--database-url", "postgres://u:p@db:5432/latchkey", "--redis-url", "rediss://r:6380"],
      {},
    );
    expect(good.ok && good.config.databaseUrl).toBe("postgres://u:p@db:5432/latchkey");
    expect(good.ok && storageConfigOf(good.config)).toEqual({
      databaseUrl: "postgres://u:p@db:5432/latchkey",
      sqlitePath: "./latchkey.db",
    });
    expect(loadConfig([], {}).ok && storageConfigOf((loadConfig([], {}) as { config: ServerConfig }).config)).toEqual({
      databaseUrl: undefined,
      sqlitePath: "./latchkey.db",
    });
    const problemsOf = (flags: string[], env: Record<string, string> = {}) => {
      const result = loadConfig(flags, env);
      return result.ok ? [] : result.problems;
    };
    expect(problemsOf(["--database-url", "mysql://db/x"])).toEqual([
      "LATCHKEY_DATABASE_URL / --database-url: must be a postgres:// URL",
    ]);
    expect(problemsOf([], { LATCHKEY_REDIS_URL: "http://r" })).toEqual([
      "LATCHKEY_REDIS_URL / --redis-url: must be a redis:// or rediss:// URL",
    ]);
    expect(problemsOf(["--redis-key-prefix", "a b"])).toHaveLength(1);
    expect(problemsOf(["--db", "x.db"], { LATCHKEY_DATABASE_URL: "postgres://db/x" })).toEqual([
      "LATCHKEY_DB / --db and LATCHKEY_DATABASE_URL / --database-url: give one, a SQLite file or a PostgreSQL URL",
    ]);
  });

  test("workers: a count, or auto for one per CPU; anything else is refused", () => {
    const workersOf = (value: string) => {
      const result = loadConfig(["--workers", value], {});
      return result.ok ? result.config.workers : result.problems;
    };
    expect(workersOf("4")).toBe(4);
    expect(workersOf("auto")).toBeGreaterThanOrEqual(1);
    expect(workersOf("0")).toEqual(["LATCHKEY_WORKERS / --workers: must be an integer from 1 to 256"]);
    expect(workersOf("lots")).toHaveLength(1);
    // Set by a primary for its workers: not a setting, and not warned about.
    expect(loadConfig([], { LATCHKEY_WORKER_INDEX: "2" })).toMatchObject({ ok: true, warnings: [] });
  });

  test("every flag has an environment variable, and flags win over the environment", () => {
    const rootKey = generateSecret(ROOT_KEY_PREFIX);
    const result = loadConfig(["--port", "9000", "--db=/data/lk.db", "--public-url", "https://auth.example.com/"], {
      LATCHKEY_PORT: "8000",
      LATCHKEY_DB: "/env.db",
      LATCHKEY_LOG_LEVEL: "warn",
      LATCHKEY_ROOT_KEY: rootKey,
    });
    expect(result.ok && result.config).toMatchObject({
      port: 9000,
      db: "/data/lk.db",
      publicUrl: "https://auth.example.com",
      logLevel: "warn",
      rootKey,
    });
    for (const setting of CONFIG_SETTINGS) expect(setting.env).toStartWith("LATCHKEY_");
  });

  test("every bad value is reported at once, each naming its variable, and no value is echoed", () => {
    const result = loadConfig(["--bogus", "1"], {
      LATCHKEY_PORT: "eighty",
      LATCHKEY_LOG_LEVEL: "loud",
      LATCHKEY_PUBLIC_URL: "ftp://x",
      LATCHKEY_ROOT_KEY: "hunter2-not-a-key",
      LATCHKEY_BODY_LIMIT_BYTES: "12",
    });
    expect(result.ok).toBe(false);
    const problems = result.ok ? [] : result.problems;
    for (const name of [
      "--bogus",
      "LATCHKEY_PORT",
      "LATCHKEY_LOG_LEVEL",
      "LATCHKEY_PUBLIC_URL",
      "LATCHKEY_ROOT_KEY",
      "LATCHKEY_BODY_LIMIT_BYTES",
    ]) {
      expect(problems.some((problem) => problem.startsWith(name))).toBe(true);
    }
    expect(problems.join("\n")).not.toContain("hunter2");
  });

  test("a port outside 0–65535 is refused", () => {
    for (const port of ["-1", "65536", "80.5"]) expect(loadConfig([], { LATCHKEY_PORT: port }).ok).toBe(false);
  });

  test("regression: an unknown flag takes its value with it, and stray arguments are counted, never echoed", () => {
    const result = loadConfig(["--bogus-flag", "1", "--port", "9000", "lk_root_pasted", "--other=2"], {});
    expect(result.ok ? [] : result.problems).toEqual([
      "--bogus-flag: unknown flag (see --help)",
      "argument 5: unexpected (settings are --name value)",
      "--other: unknown flag (see --help)",
    ]);
  });

  test("a flag without its value is refused", () => {
    const result = loadConfig(["--port"], {});
    expect(result.ok ? [] : result.problems).toEqual(["--port: needs a value"]);
  });

  test("an unknown LATCHKEY_ variable is a warning, not a failure (likely a typo)", () => {
    const result = loadConfig([], { LATCHKEY_PROT: "1" });
    expect(result.ok && result.warnings).toEqual(["LATCHKEY_PROT is not a latchkey setting; ignored"]);
  });
});

describe("the configuration table is the one source of every setting", () => {
  const rows = Object.entries(SETTINGS) as [SettingKey, SettingRow][];
  const serveCommand = COMMANDS.find((command) => command.name === "serve")!;
  const helpLines = commandHelp(serveCommand, "test").split("\n");

  test("every setting has help, and --help shows the default its zod type applies (or what unset means)", () => {
    for (const [key, row] of rows) {
      const at = helpLines.findIndex(
        (line) => line.startsWith(`  ${row.flag ?? "(env only)"} `) && line.includes(` ${row.env} `),
      );
      const applied = DEFAULT_CONFIG[key];
      const hasDefault = applied !== undefined && applied !== "";
      // What --help must say: the default itself, or (only for a setting without one) what leaving it unset means.
      const shown = hasDefault ? String(applied) : row.whenUnset;
      expect({ key, help: row.help.trim().length > 0, whenUnset: hasDefault ? row.whenUnset : "given" }).toEqual({
        key,
        help: true,
        whenUnset: hasDefault ? undefined : "given",
      });
      expect({ key, line: helpLines[at]?.trimEnd().endsWith(` ${shown}`) }).toEqual({ key, line: true });
      expect({ key, help: helpLines[at + 1]?.trim() }).toEqual({ key, help: row.help });
      expect({
        key,
        listed: CONFIG_SETTINGS.some((setting) => setting.key === key && setting.env === row.env),
      }).toEqual({ key, listed: true });
    }
  });

  test("every variable and every flag of the table is read", () => {
    // "x" is refused by some settings and taken by others: either way, a setting that was read shows it.
    const read = (key: SettingKey, name: string, result: ReturnType<typeof loadConfig>) =>
      result.ok ? result.config[key] !== DEFAULT_CONFIG[key] : result.problems.some((line) => line.startsWith(name));
    for (const [key, row] of rows) {
      expect({ env: row.env, read: read(key, row.env, loadConfig([], { [row.env]: "x" })) }).toEqual({
        env: row.env,
        read: true,
      });
      if (row.flag === null) continue;
      const problems = loadConfig([row.flag, "x"], {});
      expect({ flag: row.flag, read: read(key, row.env, problems) }).toEqual({ flag: row.flag, read: true });
    }
  });
});
