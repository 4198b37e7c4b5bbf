/**
 * Every subcommand of `latchkey`, in the order `latchkey --help` lists them: what each is (read by main.ts and the
 * help) as data, and its code imported only when it runs. A sidecar restarts often: `version` loads nothing, `serve`
 * on SQLite never loads the PostgreSQL driver, and no command pays for another's modules.
 */
import { DEFAULT_ACTIVATION_LEAD_SECONDS, MAX_ACTIVATION_LEAD_SECONDS } from "../../domain/sessions/activation-lead.ts";
import { DEFAULT_SQLITE_PATH, NEW_MASTER_KEY_ENV } from "../names.ts";
import { type Command, POSTGRES_TOOLS } from "./command.ts";

const STORAGE_SETTINGS = ["db", "databaseUrl"] as const;
const KEY_SETTINGS = ["db", "databaseUrl", "masterKey"] as const;

export const COMMANDS: readonly Command[] = [
  {
    name: "serve",
    usage: ["serve [flags]"],
    summary: "run the server (creates the database, default project and root key on first start)",
    details: [
      "Stops with exit 2 when a setting is wrong, or when the signing keys are sealed and LATCHKEY_MASTER_KEY is\n" +
        "missing or not the key that sealed them; with exit 1 when the port, the database or Redis cannot be used.",
    ],
    settings: "all",
    run: async (args, context) => (await import("./serve.ts")).serve(args, context),
  },
  {
    name: "migrate",
    usage: ["migrate [--db F | --database-url U]"],
    summary: "apply the database migrations this binary carries, and exit",
    settings: STORAGE_SETTINGS,
    run: async (args, context) => (await import("./migrate.ts")).migrate(args, context),
  },
  {
    name: "migrate-to",
    usage: ["migrate-to --database-url U [--from F]"],
    summary: "copy everything in a SQLite file into an empty PostgreSQL database",
    details: [
      "Run it with the servers stopped (nothing may be written to the file meanwhile), then start every node with\n" +
        `--database-url U. --from F: the SQLite file to copy (default ${DEFAULT_SQLITE_PATH}). ` +
        "Signing keys stay sealed under\nthe same LATCHKEY_MASTER_KEY.",
    ],
    settings: ["databaseUrl"],
    run: async (args, context) => (await import("./migrate.ts")).migrateTo(args, context),
  },
  {
    name: "backup",
    usage: ["backup --to FILE [--db F]"],
    summary: "copy the SQLite database into a new file, consistently, while servers run and write",
    details: [
      "The copy holds every write acknowledged before the backup began. " +
        "It is as secret as the database: key hashes,\n" +
        "the audit trail and the private token-signing keys (sealed only when LATCHKEY_MASTER_KEY is set; " +
        "the report\n" +
        "says which). It is created readable by its owner only. " +
        "Serve it directly with `latchkey serve --db FILE`, or\n" +
        `put it back with \`latchkey restore\`. With --database-url: ${POSTGRES_TOOLS}.`,
    ],
    settings: STORAGE_SETTINGS,
    run: async (args, context) => (await import("./backup.ts")).backup(args, context),
  },
  {
    name: "restore",
    usage: ["restore --from FILE [--db F]"],
    summary: "put a backup in place of the SQLite database (every server on it stopped first)",
    details: [
      "The file being replaced is moved aside to <db>.before-restore-<ms>, never deleted; its stale -wal and -shm\n" +
        "are not carried over. Start the servers again afterwards, " +
        "with the LATCHKEY_MASTER_KEY of the backup's time.\n" +
        `With --database-url: ${POSTGRES_TOOLS}.`,
    ],
    settings: STORAGE_SETTINGS,
    run: async (args, context) => (await import("./backup.ts")).restore(args, context),
  },
  {
    name: "signing-keys",
    usage: [
      "signing-keys list   [--db F | --database-url U]",
      "signing-keys rotate [--db F | --database-url U] [--activate-in-seconds N]",
    ],
    summary: "show or rotate the token-signing keys (a running server picks changes up within 5 s)",
    details: [
      "--activate-in-seconds N: how long the new key is published before it signs " +
        `(0 to ${MAX_ACTIVATION_LEAD_SECONDS},\ndefault ${DEFAULT_ACTIVATION_LEAD_SECONDS}), ` +
        "so verifiers holding a cached JWKS fetch it first.",
    ],
    settings: KEY_SETTINGS,
    run: async (args, context) => (await import("./keys.ts")).signingKeys(args, context),
  },
  {
    name: "master-key",
    usage: ["master-key rotate [--db F | --database-url U] [--new-key-stdin]"],
    summary: "seal every token-signing key under a new LATCHKEY_MASTER_KEY, in one transaction",
    details: [
      "The current key comes from LATCHKEY_MASTER_KEY (unset when the keys were never sealed: they are sealed now);\n" +
        `the new one from ${NEW_MASTER_KEY_ENV}, or from standard input with --new-key-stdin (32+ characters).\n` +
        "Afterwards restart every latchkey with LATCHKEY_MASTER_KEY set to the new key: the old one no longer opens\n" +
        "the signing keys, and a server still holding it refuses to seal new ones. Tokens already issued stay valid.",
    ],
    settings: KEY_SETTINGS,
    run: async (args, context) => (await import("./keys.ts")).masterKey(args, context),
  },
  {
    name: "openapi",
    usage: ["openapi"],
    summary: "print the OpenAPI document of the HTTP API (what /openapi.json serves)",
    settings: [],
    run: async (_args, context) => (await import("./openapi.ts")).printOpenapi(context),
  },
  {
    name: "keygen",
    usage: ["keygen"],
    summary: "print a new root-key secret, for LATCHKEY_ROOT_KEY",
    settings: [],
    run: async (_args, context) => (await import("./info.ts")).printRootKeySecret(context),
  },
  {
    name: "version",
    usage: ["version"],
    summary: "print the version",
    settings: [],
    run: async (_args, context) => (await import("./info.ts")).printVersion(context),
  },
];
