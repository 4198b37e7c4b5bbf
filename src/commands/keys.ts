/** `latchkey signing-keys list|rotate`: the token-signing keys. */
import { existsSync } from "node:fs";
import { SYSTEM_ACTOR } from "../audit/service.ts";
import { type ServerConfig, storageConfigOf } from "../config.ts";
import { MigrationError } from "../db/migrate.ts";
import { openStorage } from "../db/open.ts";
import type { Storage } from "../db/storage.ts";
import { systemClock, toIsoString } from "../lib/clock.ts";
import { deriveMasterKey, MasterKeyError } from "../sessions/key-encryption.ts";
import {
  DEFAULT_ACTIVATION_LEAD_SECONDS,
  MAX_ACTIVATION_LEAD_SECONDS,
  prepareSigningKeys,
  rotateSigningKey,
  signingKeyStatus,
} from "../sessions/signing-keys.ts";
import {
  type Command,
  type CommandContext,
  EXIT_FAILED,
  EXIT_OK,
  EXIT_USAGE,
  takeOptions,
  withConfig,
} from "./command.ts";

const KEY_SETTINGS = ["db", "databaseUrl", "masterKey"] as const;

export const signingKeysCommand: Command = {
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
  run: signingKeys,
};

async function signingKeys(args: string[], context: CommandContext): Promise<number> {
  const [action, ...rest] = args;
  if (action !== "list" && action !== "rotate") {
    context.stderr('latchkey: signing-keys needs "list" or "rotate" (see latchkey signing-keys --help)\n');
    return EXIT_USAGE;
  }
  const { values, rest: settings } = takeOptions(rest, { "activate-in-seconds": { type: "string" } });
  const lead = values["activate-in-seconds"];
  const activateInSeconds = lead === undefined ? DEFAULT_ACTIVATION_LEAD_SECONDS : Number(lead);
  if (
    !Number.isInteger(activateInSeconds) ||
    activateInSeconds < 0 ||
    activateInSeconds > MAX_ACTIVATION_LEAD_SECONDS
  ) {
    context.stderr(`latchkey: --activate-in-seconds: must be an integer from 0 to ${MAX_ACTIVATION_LEAD_SECONDS}\n`);
    return EXIT_USAGE;
  }
  return withConfig(settings, context, (config) =>
    withKeyStorage(config, context, async (storage, now) => {
      const masterKey = config.masterKey === undefined ? null : await deriveMasterKey(config.masterKey);
      const { ring } = await prepareSigningKeys(storage, masterKey, SYSTEM_ACTOR, now);
      if (action === "rotate") {
        const rotation = await rotateSigningKey(storage, ring, masterKey, SYSTEM_ACTOR, activateInSeconds, now);
        context.stdout(`rotated: ${rotation!.kid} signs from ${toIsoString(rotation!.activatesAtMs)}\n`);
      }
      for (const key of await ring.schedule(systemClock.nowMilliseconds())) {
        const status = signingKeyStatus(key, now);
        context.stdout(`${key.kid}  ${status.padEnd(7)}  activates ${toIsoString(key.activatesAtMs)}\n`);
      }
      return EXIT_OK;
    }),
  );
}

/**
 * An existing database, migrated, for `work`. A master key that is missing or does not open the signing keys is a
 * configuration error (exit 2); nothing was changed then.
 */
async function withKeyStorage(
  config: ServerConfig,
  context: CommandContext,
  work: (storage: Storage, nowMilliseconds: number) => Promise<number>,
): Promise<number> {
  const place = storageConfigOf(config);
  if (place.databaseUrl === undefined && !existsSync(place.sqlitePath)) {
    context.stderr(`latchkey: no SQLite database at ${place.sqlitePath} (give it with --db)\n`);
    return EXIT_USAGE;
  }
  const storage = openStorage(place);
  try {
    const now = systemClock.nowMilliseconds();
    await storage.migrate(now);
    return await work(storage, now);
  } catch (error) {
    if (error instanceof MasterKeyError) {
      context.stderr(`latchkey: ${error.message}\n`);
      return EXIT_USAGE;
    }
    if (error instanceof MigrationError) {
      context.stderr(`latchkey: ${error.message}\n`);
      return EXIT_FAILED;
    }
    throw error;
  } finally {
    await storage.close();
  }
}
