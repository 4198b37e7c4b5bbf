/**
 * What the app is made of: everything createApp, the route handlers and the pipeline use, and nothing else. It is
 * built by src/app/deps.ts; this layer only names it, so that routes and the pipeline depend on the shape, not on how
 * it is put together.
 */
import type { LRUCache } from "lru-cache";
import type { FailureWatch } from "../auth/admission.ts";
import type { ChangeLog } from "../auth/change-log.ts";
import type { CredentialCache } from "../auth/credential-cache.ts";
import type { UsageRecorder } from "../auth/usage.ts";
import type { Storage } from "../db/storage.ts";
import type { RateLimitPolicy } from "../domain/ratelimit/bucket.ts";
import type { Limiter } from "../domain/ratelimit/limiter.ts";
import type { SigningKeyRing } from "../domain/sessions/signing-keys.ts";
import type { SessionClaims } from "../domain/sessions/tokens.ts";
import type { Clock } from "../lib/clock.ts";
import type { Logger } from "../lib/logger.ts";
import type { Metrics } from "../lib/metrics.ts";
import type { TrustedProxies } from "./client-ip.ts";
import type { OriginRegistry } from "./cors.ts";

export interface AppSettings {
  /** The URL clients reach latchkey at; used in verification links and as the token issuer. */
  publicUrl: string;
  /** Largest request body accepted, in bytes. */
  bodyLimitBytes: number;
  version: string;
  /** Age after which the signing key is rotated automatically; 0 never. */
  signingKeyRotationDays: number;
  /** Peers whose X-Forwarded-For is believed. */
  trustedProxies: TrustedProxies;
  /** Failed authentications allowed per client address before it is refused with 429. */
  authFailurePolicy: RateLimitPolicy;
  /** CLI login sessions a client address may start (the start is unauthenticated). */
  cliStartPolicy: RateLimitPolicy;
  /**
   * Answer warm, allowed checks on the hot routes (src/api/verify/fast-lane.ts) without the full pipeline. On by
   * default; off, every request takes the full pipeline (a test compares the two answers).
   */
  fastLane: boolean;
}

interface SessionsRuntime {
  ring: SigningKeyRing;
  /** Seals new private signing keys; null when LATCHKEY_MASTER_KEY is not set. */
  masterKey: CryptoKey | null;
  verifiedTokens: LRUCache<string, SessionClaims>;
}

export interface AppDeps {
  storage: Storage;
  /**
   * `ready` turns true once the first-start defaults exist; until then every request is answered 503. `workers`:
   * of the processes serving the port (`--workers N`), how many listen; /readyz is 503 until all of them do.
   */
  status: { ready: boolean; workers: { listening: number; expected: number } };
  clock: Clock;
  logger: Logger;
  settings: AppSettings;
  sessions: SessionsRuntime;
  origins: OriginRegistry;
  credentials: CredentialCache;
  changeLog: ChangeLog;
  rateLimiter: Limiter;
  usage: UsageRecorder;
  authFailures: FailureWatch;
  metrics: Metrics;
}
