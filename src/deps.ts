/**
 * What the app is built from. `createApp(deps)` uses nothing else, so tests build it with an in-memory database,
 * a manual clock and a captured logger, and main.ts builds it from the environment.
 */
import type { Database } from "bun:sqlite";
import { LRUCache } from "lru-cache";
import { SYSTEM_ACTOR } from "./audit/service.ts";
import type { Db } from "./db/client.ts";
import { OriginRegistry } from "./http/cors.ts";
import type { Clock } from "./lib/clock.ts";
import type { Logger } from "./lib/logger.ts";
import { deriveMasterKey } from "./sessions/key-encryption.ts";
import { prepareSigningKeys, type SigningKeyRing } from "./sessions/signing-keys.ts";
import type { SessionClaims } from "./sessions/tokens.ts";

export interface AppSettings {
  /** The URL clients reach latchkey at; used in verification links and as the token issuer. */
  publicUrl: string;
  /** Largest request body accepted, in bytes. */
  bodyLimitBytes: number;
  version: string;
  /** Age after which the signing key is rotated automatically; 0 never. */
  signingKeyRotationDays: number;
}

export interface SessionsRuntime {
  ring: SigningKeyRing;
  /** Seals new private signing keys; null when LATCHKEY_MASTER_KEY is not set. */
  masterKey: CryptoKey | null;
  verifiedTokens: LRUCache<string, SessionClaims>;
}

export interface AppDeps {
  db: Db;
  sqlite: Database;
  clock: Clock;
  logger: Logger;
  settings: AppSettings;
  sessions: SessionsRuntime;
  origins: OriginRegistry;
}

export interface DepsInput {
  db: Db;
  sqlite: Database;
  clock: Clock;
  logger: Logger;
  settings: AppSettings;
  /** LATCHKEY_MASTER_KEY, when set. */
  masterKeyText?: string;
}

/** Everything createApp needs beyond its inputs: the signing-key ring (made ready), caches and registries. */
export async function createDeps(input: DepsInput): Promise<AppDeps> {
  const masterKey = input.masterKeyText === undefined ? null : await deriveMasterKey(input.masterKeyText);
  const ring = await prepareSigningKeys(input.db, masterKey, SYSTEM_ACTOR, input.clock.nowMilliseconds());
  return {
    db: input.db,
    sqlite: input.sqlite,
    clock: input.clock,
    logger: input.logger,
    settings: input.settings,
    sessions: { ring, masterKey, verifiedTokens: new LRUCache({ max: VERIFIED_TOKEN_CACHE_ENTRIES }) },
    origins: new OriginRegistry(input.db),
  };
}

const VERIFIED_TOKEN_CACHE_ENTRIES = 10_000;
