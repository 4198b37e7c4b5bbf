/**
 * Building what the app is made of (the AppDeps of src/http/app-deps.ts) from its inputs: the signing-key ring made
 * ready, the caches, registries and counters. Tests call it with an in-memory database, a manual clock and a
 * captured logger; main.ts with what the environment says.
 */
import type { Database } from "bun:sqlite";
import { LRUCache } from "lru-cache";
import { SYSTEM_ACTOR } from "./audit/service.ts";
import { ChangeLog } from "./auth/change-log.ts";
import { CredentialCache } from "./auth/credential-cache.ts";
import { UsageRecorder } from "./auth/usage.ts";
import type { Db } from "./db/client.ts";
import type { AppDeps, AppSettings } from "./http/app-deps.ts";
import { OriginRegistry } from "./http/cors.ts";
import type { Clock } from "./lib/clock.ts";
import type { Logger } from "./lib/logger.ts";
import { Metrics } from "./lib/metrics.ts";
import { RateLimiter } from "./ratelimit/limiter.ts";
import { deriveMasterKey } from "./sessions/key-encryption.ts";
import { prepareSigningKeys } from "./sessions/signing-keys.ts";

export interface CacheSizes {
  keys: number;
  tokens: number;
  buckets: number;
}

export const DEFAULT_CACHE_SIZES: CacheSizes = { keys: 25_000, tokens: 10_000, buckets: 50_000 };

export interface DepsInput {
  db: Db;
  sqlite: Database;
  clock: Clock;
  logger: Logger;
  settings: AppSettings;
  /** LATCHKEY_MASTER_KEY, when set. */
  masterKeyText?: string;
  cacheSizes?: CacheSizes;
}

/** Everything createApp needs beyond its inputs: the signing-key ring (made ready), caches and registries. */
export async function createDeps(input: DepsInput): Promise<AppDeps> {
  const sizes = input.cacheSizes ?? DEFAULT_CACHE_SIZES;
  const masterKey = input.masterKeyText === undefined ? null : await deriveMasterKey(input.masterKeyText);
  const ring = await prepareSigningKeys(input.db, masterKey, SYSTEM_ACTOR, input.clock.nowMilliseconds());
  const credentials = new CredentialCache(input.db, { keys: sizes.keys, projects: 10_000, tenants: 10_000 });
  const origins = new OriginRegistry(input.db);
  const usage: UsageRecorder = new UsageRecorder(() => {
    // A full batch is written on a later turn of the event loop, never inside the request that filled it.
    setTimeout(() => {
      try {
        usage.flush(input.db);
      } catch (error) {
        input.logger.error("usage flush failed", { error: error instanceof Error ? error.message : String(error) });
      }
    }, 0);
  });
  return {
    db: input.db,
    sqlite: input.sqlite,
    clock: input.clock,
    logger: input.logger,
    settings: input.settings,
    sessions: { ring, masterKey, verifiedTokens: new LRUCache({ max: sizes.tokens }) },
    origins,
    credentials,
    changeLog: new ChangeLog(input.db, credentials, (entity) => {
      if (entity === "project") origins.invalidate();
    }),
    rateLimiter: new RateLimiter({ maxBuckets: sizes.buckets }),
    usage,
    metrics: new Metrics(),
  };
}
