/** `latchkey signing-keys list|rotate` and `latchkey master-key rotate`: the token-signing keys and their seal. */
import { existsSync } from "node:fs";
import { MigrationError } from "../../db/migrate.ts";
import { openStorage } from "../../db/open.ts";
import type { Storage } from "../../db/storage.ts";
import { SYSTEM_ACTOR } from "../../domain/audit/service.ts";
import { DEFAULT_ACTIVATION_LEAD_SECONDS, MAX_ACTIVATION_LEAD_SECONDS } from "../../domain/sessions/activation-lead.ts";
import { deriveMasterKey, MasterKeyError } from "../../domain/sessions/key-encryption.ts";
import { resealSigningKeys } from "../../domain/sessions/master-key.ts";
import { prepareSigningKeys, rotateSigningKey, signingKeyStatus } from "../../domain/sessions/signing-keys.ts";
import { systemClock, toIsoString } from "../../lib/clock.ts";
import { constantTimeEqual } from "../../lib/crypto.ts";
import { MasterKeyText, type ServerConfig, storageConfigOf } from "../config.ts";
import { NEW_MASTER_KEY_ENV } from "../names.ts";
import { type CommandContext, EXIT_FAILED, EXIT_OK, EXIT_USAGE } from "./command.ts";
import { answerFailure, takeOptions, withConfig } from "./kit.ts";

export async function signingKeys(args: string[], context: CommandContext): Promise<number> {
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

export async function masterKey(args: string[], context: CommandContext): Promise<number> {
  const [action, ...rest] = args;
  if (action !== "rotate") {
    context.stderr('latchkey: master-key needs "rotate" (see latchkey master-key --help)\n');
    return EXIT_USAGE;
  }
  const { values, rest: settings } = takeOptions(rest, { "new-key-stdin": { type: "boolean" } });
  return withConfig(settings, context, async (config) => {
    const fromEnvironment = context.env[NEW_MASTER_KEY_ENV];
    if (values["new-key-stdin"] === true && fromEnvironment !== undefined) {
      context.stderr(`latchkey: give the new master key once: ${NEW_MASTER_KEY_ENV} or --new-key-stdin\n`);
      return EXIT_USAGE;
    }
    // One line on standard input; its line ending is not part of the key.
    const newKeyText =
      values["new-key-stdin"] === true ? (await context.readStdin()).replace(/\r?\n$/, "") : fromEnvironment;
    if (newKeyText === undefined || newKeyText === "") {
      context.stderr(`latchkey: the new master key is missing: set ${NEW_MASTER_KEY_ENV} or pass --new-key-stdin\n`);
      return EXIT_USAGE;
    }
    const checked = MasterKeyText.safeParse(newKeyText);
    if (!checked.success) {
      context.stderr(`latchkey: the new master key ${checked.error.issues[0]!.message}\n`);
      return EXIT_USAGE;
    }
    if (config.masterKey !== undefined && constantTimeEqual(config.masterKey, newKeyText)) {
      context.stderr("latchkey: the new master key is the current one (LATCHKEY_MASTER_KEY); choose another\n");
      return EXIT_USAGE;
    }
    return withKeyStorage(config, context, async (storage, now) => {
      const current = config.masterKey === undefined ? null : await deriveMasterKey(config.masterKey);
      const resealed = await resealSigningKeys(storage, current, await deriveMasterKey(newKeyText), SYSTEM_ACTOR, now);
      context.stdout(
        `sealed ${resealed} signing keys under the new master key; restart every latchkey with ` +
          "LATCHKEY_MASTER_KEY set to it (the previous key no longer opens them)\n",
      );
      return EXIT_OK;
    });
  });
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
  const storage = await openStorage(place);
  try {
    const now = systemClock.nowMilliseconds();
    await storage.migrate(now);
    return await work(storage, now);
  } catch (error) {
    return answerFailure(error, context, [
      [MasterKeyError, EXIT_USAGE],
      [MigrationError, EXIT_FAILED],
    ]);
  } finally {
    await storage.close();
  }
}
