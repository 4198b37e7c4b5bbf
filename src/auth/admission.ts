/**
 * Admission: the whole access decision for a request, shared by every authenticated route, /v1/authz and
 * /v1/keys/verify.
 *
 *   1. a client address with too many recent failed authentications → 429 (before any credential work; the root key,
 *      when memory already knows it, is exempt)
 *   2. the credential (authenticate.ts), in the documented order; a 401 counts against the address
 *   3. the principal's bucket (a session spends its parent key's) → 429 with Retry-After
 *   4. usage noted in memory (written in batches, never here)
 *
 * Rate-limit fields are written into `responseHeaders` before any refusal is thrown, so a 429 carries them.
 */

import { ROOT_KEY_PREFIX } from "../domain/keys/secret.ts";
import type { RateLimitPolicy } from "../domain/ratelimit/bucket.ts";
import { BUCKET_KINDS, bucketName } from "../domain/ratelimit/buckets.ts";
import { rateLimitHeaders } from "../domain/ratelimit/headers.ts";
import type { Limiter } from "../domain/ratelimit/limiter.ts";
import { AppError } from "../lib/errors.ts";
import { cachedKeyCredential } from "./api-keys.ts";
import { type AccessSpec, authenticateRequest, CredentialRefusal, type PresentedCredentials } from "./authenticate.ts";
import type { Principal } from "./principal.ts";
import type { SessionTokenDeps } from "./session-tokens.ts";
import type { UsageRecorder } from "./usage.ts";

export interface AdmissionDeps extends SessionTokenDeps {
  settings: SessionTokenDeps["settings"] & { authFailurePolicy: RateLimitPolicy };
  rateLimiter: Limiter;
  usage: UsageRecorder;
  authFailures: FailureWatch;
}

/**
 * When a failed authentication was last counted, from any address. Each address's failure bucket is full again one
 * window after its last failure, so while none is that recent no address can be throttled, and a request need not
 * work out its client's address to be admitted (the warm paths skip it).
 */
export class FailureWatch {
  private lastFailureAtMs = Number.NEGATIVE_INFINITY;
  /** Told of each failure noted here (a worker tells its siblings, which note it too through `noteFailure`). */
  onNoted: (nowMilliseconds: number) => void = () => {};

  constructor(private readonly policy: () => RateLimitPolicy) {}

  noteFailure(nowMilliseconds: number, relayed = false): void {
    this.lastFailureAtMs = Math.max(this.lastFailureAtMs, nowMilliseconds);
    if (!relayed) this.onNoted(nowMilliseconds);
  }

  /** True when some address may have an emptied failure bucket at `nowMilliseconds`. */
  mayThrottle(nowMilliseconds: number): boolean {
    return nowMilliseconds - this.lastFailureAtMs < this.policy().windowSeconds * 1000;
  }
}

/**
 * The method of a request that has none to judge: verification asks about a credential on behalf of the host API, not
 * of one browser request, so the browser rule is not applied (the host API applies it to its own request).
 */
export const NO_REQUEST_METHOD = null;

export interface AdmissionRequest {
  /** The method the browser rule is decided on; NO_REQUEST_METHOD where there is none. */
  method: string | null;
  presented: PresentedCredentials;
  /** Whose failed authentications count; null when unknown or when failures must not count (verify). */
  clientIp: string | null;
}

/** What admission established, filled in as it goes, so a caller can report it even when admission refuses. */
export interface AdmissionOutcome {
  principal: Principal | null;
  rateLimit: { limit: number; remaining: number; resetAtMs: number } | null;
}

export async function admitRequest(
  deps: AdmissionDeps,
  spec: AccessSpec,
  request: AdmissionRequest,
  nowMilliseconds: number,
  responseHeaders: Record<string, string>,
  outcome: AdmissionOutcome = { principal: null, rateLimit: null },
): Promise<Principal> {
  const failureBucket =
    request.clientIp === null || isKnownRootKey(deps, request.presented)
      ? null
      : bucketName(BUCKET_KINDS.authFailures, request.clientIp);
  const failurePolicy = deps.settings.authFailurePolicy;
  if (failureBucket !== null && (await deps.rateLimiter.peek(failureBucket, failurePolicy, nowMilliseconds)) < 1) {
    const decision = await deps.rateLimiter.take(failureBucket, failurePolicy, nowMilliseconds);
    Object.assign(
      responseHeaders,
      rateLimitHeaders(BUCKET_KINDS.authFailures, failurePolicy, decision, nowMilliseconds),
    );
    throw rateLimited("Too many failed authentications from this address.");
  }
  let principal: Principal;
  try {
    principal = await authenticateRequest(deps, spec, request.method, request.presented, nowMilliseconds);
  } catch (error) {
    if (failureBucket !== null && error instanceof AppError && error.status === 401) {
      deps.authFailures.noteFailure(nowMilliseconds);
      await deps.rateLimiter.take(failureBucket, failurePolicy, nowMilliseconds);
    }
    if (error instanceof CredentialRefusal) outcome.principal = error.principal;
    throw error;
  }
  outcome.principal = principal;
  const decision = await deps.rateLimiter.take(
    bucketName(BUCKET_KINDS.key, principal.keyId),
    principal.ratelimit,
    nowMilliseconds,
  );
  outcome.rateLimit = { limit: principal.ratelimit.limit, remaining: decision.remaining, resetAtMs: decision.fullAtMs };
  Object.assign(responseHeaders, rateLimitHeaders(BUCKET_KINDS.key, principal.ratelimit, decision, nowMilliseconds));
  if (!decision.allowed) throw keyRateLimited();
  deps.usage.record(principal.keyId, nowMilliseconds);
  return principal;
}

/**
 * The root key, as this process already holds it in memory: exempt from its address's failed authentications, so
 * that others failing behind the same address (an office NAT, a CI egress) cannot lock the operator out. Memory only:
 * a secret merely shaped like the root key costs a throttled address no lookup, and stays refused.
 */
function isKnownRootKey(deps: AdmissionDeps, presented: PresentedCredentials): boolean {
  const secret = presented.secret;
  if (secret === null || !secret.startsWith(ROOT_KEY_PREFIX)) return false;
  return cachedKeyCredential(deps.credentials, secret)?.key.isRoot === true;
}

function rateLimited(message: string): AppError {
  return new AppError("RATE_LIMITED", { message });
}

/** The refusal of a request whose key's bucket is empty. */
export function keyRateLimited(): AppError {
  return rateLimited("The key's rate limit is exhausted.");
}
