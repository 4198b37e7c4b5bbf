/**
 * Building what the app is made of (the AppDeps of src/http/app-deps.ts) from its inputs: the signing-key ring made
 * ready, the caches, registries and counters. Tests call it with an in-memory database, a manual clock and a
 * captured logger; main.ts with what the environment says.
 */
import { FailureWatch } from "../auth/admission.ts";
import { ChangeLog } from "../auth/change-log.ts";
import { CredentialCache } from "../auth/credential-cache.ts";
import { UsageRecorder } from "../auth/usage.ts";
import type { Storage } from "../db/storage.ts";
import { SYSTEM_ACTOR } from "../domain/audit/service.ts";
import { type Limiter, RateLimiter } from "../domain/ratelimit/limiter.ts";
import { deriveMasterKey } from "../domain/sessions/key-encryption.ts";
import { prepareSigningKeys } from "../domain/sessions/signing-keys.ts";
import type { AppDeps, AppSettings } from "../http/app-deps.ts";
import { OriginRegistry } from "../http/cors.ts";
import { boundedCache } from "../lib/bounded-cache.ts";
import type { Clock } from "../lib/clock.ts";
import { causeFields } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import { Metrics } from "../lib/metrics.ts";

export interface CacheSizes {
  keys: number;
  tokens: number;
  buckets: number;
}

export interface DepsInput {
  storage: Storage;
  clock: Clock;
  logger: Logger;
  settings: AppSettings;
  /** LATCHKEY_MASTER_KEY, when set. */
  masterKeyText?: string;
  /** From the configuration (runtimeOf in config.ts), whose table holds their defaults. */
  cacheSizes: CacheSizes;
  /** Where buckets live; this process's memory when omitted (one process, or buckets not shared). */
  rateLimiter?: Limiter;
}

/** Everything createApp needs beyond its inputs: the signing-key ring (made ready), caches and registries. */
export async function createDeps(input: DepsInput): Promise<AppDeps> {
  const { storage, clock, logger, cacheSizes: sizes } = input;
  const masterKey = input.masterKeyText === undefined ? null : await deriveMasterKey(input.masterKeyText);
  const { ring, sealed } = await prepareSigningKeys(storage, masterKey, SYSTEM_ACTOR, clock.nowMilliseconds());
  // Only the process that sealed says so: a restart, or the other workers of one start, find nothing to seal.
  if (sealed > 0) logger.info("signing keys sealed with LATCHKEY_MASTER_KEY", { sealed });
  let changeLog: ChangeLog | undefined;
  const credentials = new CredentialCache(
    storage,
    { keys: sizes.keys, projects: 10_000, tenants: 10_000 },
    () => changeLog?.inSync() ?? false,
  );
  const origins = new OriginRegistry(storage);
  await origins.load();
  changeLog = new ChangeLog(storage, credentials, (entity, entityId) => {
    if (entity === "project") return origins.refreshProject(entityId);
    if (entity === "signing_key") return ring.reload(clock.nowMilliseconds());
  });
  await changeLog.start();
  const usage: UsageRecorder = new UsageRecorder(() => {
    // A full batch is written on a later turn of the event loop, never inside the request that filled it.
    setTimeout(() => {
      usage.flush(storage).catch((error: unknown) => {
        logger.error("usage flush failed", causeFields(error));
      });
    }, 0);
  });
  return {
    storage,
    status: { ready: false, workers: { listening: 1, expected: 1 } },
    clock,
    logger,
    settings: input.settings,
    sessions: { ring, masterKey, verifiedTokens: boundedCache(sizes.tokens) },
    origins,
    credentials,
    changeLog,
    rateLimiter: input.rateLimiter ?? new RateLimiter({ maxBuckets: sizes.buckets }),
    usage,
    authFailures: new FailureWatch(() => input.settings.authFailurePolicy),
    metrics: new Metrics(),
  };
}
