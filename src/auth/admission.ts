/**
 * Admission: the whole access decision for a request, one function for every authenticated route, /v1/authz and
 * /v1/keys/verify, and for the fast lane of the last two alike (`admit`).
 *
 *   1. a client address with too many recent failed authentications → 429 (before any credential work; the root key,
 *      when memory already knows it, is exempt)
 *   2. the credential (authenticate.ts), in the documented order; a 401 counts against the address. A credential
 *      memory holds and allows is decided from memory (`warmPrincipal`), anything else the full way.
 *   3. the principal's bucket (a session spends its parent key's) → 429 with Retry-After
 *   4. usage noted in memory (written in batches, never here): the request, and its outcome (VALID or the code that
 *      refused a credential it identified)
 *
 * It returns the decision, refusal included, and throws nothing of its own: the HTTP edge (the route mount,
 * forward-auth, verification, the fast lane) turns it into an answer.
 */

import { ROOT_KEY_PREFIX } from "../domain/keys/secret.ts";
import type { BucketDecision, RateLimitPolicy } from "../domain/ratelimit/bucket.ts";
import { BUCKET_KINDS, type BucketKind, bucketName } from "../domain/ratelimit/buckets.ts";
import { rateLimitHeaders } from "../domain/ratelimit/headers.ts";
import type { Limiter } from "../domain/ratelimit/limiter.ts";
import { AppError } from "../lib/errors.ts";
import { cachedKeyCredential, keyPrincipalOf } from "./api-keys.ts";
import { type AccessSpec, authenticateRequest, type PresentedCredentials } from "./authenticate.ts";
import { decideKeyAccess, decideScopes } from "./decision.ts";
import type { Principal } from "./principal.ts";
import { type SessionTokenDeps, warmSessionPrincipal } from "./session-tokens.ts";
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
  /**
   * Whose failed authentications count; null when unknown or when failures must not count (verify). A function,
   * because working the address out costs a little and is needed only while some address may be throttled.
   */
  clientIp: () => string | null;
  /**
   * The address a key's ip_allowlist judges, where it is not the client's (verification: the one the host API names);
   * the client's (`clientIp`) otherwise.
   */
  allowlistAddress?: () => string | null;
}

function allowlistAddressOf(request: AdmissionRequest): () => string | null {
  return request.allowlistAddress ?? request.clientIp;
}

/** For a request whose failures must not count against any address (verification: the host API asks). */
export const NO_CLIENT_ADDRESS = (): string | null => null;

/** A bucket's answer to this request, and which bucket it was: what the rate-limit fields describe. */
export interface BucketAnswer {
  kind: BucketKind;
  policy: RateLimitPolicy;
  decision: BucketDecision;
}

/** The rate-limit fields of the bucket that answered, if one did, written into `headers`. */
export function writeBucketFields(
  admission: Admission,
  nowMilliseconds: number,
  headers: Record<string, string>,
): void {
  const bucket = admission.bucket;
  if (bucket !== null) rateLimitHeaders(bucket.kind, bucket.policy, bucket.decision, nowMilliseconds, headers);
}

/** What admission decided: the principal (when the credential was identified, refused or not), the bucket, why not. */
export type Admission =
  | { principal: Principal; bucket: BucketAnswer; refusal: null }
  | { principal: Principal | null; bucket: BucketAnswer | null; refusal: AppError };

/** An admission memory decided: a principal it holds, and its key's bucket, which admitted the request or not. */
export interface WarmAdmission {
  principal: Principal;
  bucket: BucketAnswer;
  refusal: AppError | null;
}

/**
 * The decision on a request. `memoryOnly` (the fast lane): decide only what memory holds and allows, or the key's
 * bucket refuses, with no side effect otherwise; null then, for the full pipeline to decide from the start. The
 * answer is synchronous whenever the bucket's is (an in-process bucket), which keeps the fast lane's cost down.
 */
export function admit(
  deps: AdmissionDeps,
  spec: AccessSpec,
  request: AdmissionRequest,
  nowMilliseconds: number,
  memoryOnly: true,
): WarmAdmission | Promise<WarmAdmission> | null;
export function admit(
  deps: AdmissionDeps,
  spec: AccessSpec,
  request: AdmissionRequest,
  nowMilliseconds: number,
  memoryOnly?: false,
): Promise<Admission>;
export function admit(
  deps: AdmissionDeps,
  spec: AccessSpec,
  request: AdmissionRequest,
  nowMilliseconds: number,
  memoryOnly = false,
): Admission | Promise<Admission> | null {
  if (!memoryOnly) return admitAny(deps, spec, request, nowMilliseconds);
  if (mayBeThrottled(deps, request, nowMilliseconds)) return null;
  const principal = warmPrincipal(deps, spec, request, nowMilliseconds);
  return principal === undefined ? null : spendFrom(deps, principal, nowMilliseconds);
}

async function admitAny(
  deps: AdmissionDeps,
  spec: AccessSpec,
  request: AdmissionRequest,
  nowMilliseconds: number,
): Promise<Admission> {
  const clientIp = request.clientIp();
  const failureBucket =
    clientIp === null || isKnownRootKey(deps, request.presented)
      ? null
      : bucketName(BUCKET_KINDS.authFailures, clientIp);
  const failurePolicy = deps.settings.authFailurePolicy;
  if (failureBucket !== null && (await deps.rateLimiter.peek(failureBucket, failurePolicy, nowMilliseconds)) < 1) {
    const decision = await deps.rateLimiter.take(failureBucket, failurePolicy, nowMilliseconds);
    return {
      principal: null,
      bucket: { kind: BUCKET_KINDS.authFailures, policy: failurePolicy, decision },
      refusal: rateLimited("Too many failed authentications from this address."),
    };
  }
  const warm = warmPrincipal(deps, spec, request, nowMilliseconds);
  if (warm !== undefined) return spendFrom(deps, warm, nowMilliseconds);
  const authentication = await authenticateRequest(
    deps,
    spec,
    { method: request.method, presented: request.presented, clientAddress: allowlistAddressOf(request) },
    nowMilliseconds,
  );
  if (authentication.refusal !== null) {
    if (failureBucket !== null && authentication.refusal.status === 401) {
      deps.authFailures.noteFailure(nowMilliseconds);
      await deps.rateLimiter.take(failureBucket, failurePolicy, nowMilliseconds);
    }
    // A refusal of a credential it identified counts among that key's outcomes (usage by outcome).
    if (authentication.principal !== null) {
      deps.usage.recordOutcome(authentication.principal.keyId, authentication.refusal.code, nowMilliseconds);
    }
    return { ...authentication, bucket: null };
  }
  return spendFrom(deps, authentication.principal, nowMilliseconds);
}

/**
 * The principal for a credential memory holds and allows, decided as the full check would (the same decision
 * functions on the same records); undefined for the full check to decide, and say why. It decides only the plain
 * case: one credential, no Origin (no browser rule, no origin list), no X-Project-Id, not a root-only route.
 */
function warmPrincipal(
  deps: AdmissionDeps,
  spec: AccessSpec,
  request: AdmissionRequest,
  nowMilliseconds: number,
): Principal | undefined {
  const { presented } = request;
  const { secret, sessionToken } = presented;
  if (presented.origin !== null || presented.projectId !== null || spec.credential === "root") return undefined;
  const clientAddress = allowlistAddressOf(request);
  if (sessionToken !== null) {
    if (secret !== null || spec.credential === "key") return undefined;
    const expectations = { origin: null, module: spec.module, clientAddress };
    const session = warmSessionPrincipal(deps, sessionToken, expectations, nowMilliseconds);
    return session && decideScopes(session.scopes, spec) === null ? session : undefined;
  }
  const record = secret === null ? undefined : cachedKeyCredential(deps.credentials, secret);
  if (record === undefined) return undefined;
  const requirement = {
    module: spec.module,
    scopes: spec.scopes,
    scopeQuery: spec.scopeQuery,
    refuseRootKey: spec.dataPlane,
    clientAddress,
  };
  return decideKeyAccess(record, requirement, nowMilliseconds) === null ? keyPrincipalOf(record) : undefined;
}

/** Spends a token of the principal's bucket; usage is noted only when it admits. */
function spendFrom(
  deps: AdmissionDeps,
  principal: Principal,
  nowMilliseconds: number,
): WarmAdmission | Promise<WarmAdmission> {
  const policy = principal.ratelimit;
  const admission = (decision: BucketDecision): WarmAdmission => {
    const bucket = { kind: BUCKET_KINDS.key, policy, decision };
    if (!decision.allowed) {
      deps.usage.recordOutcome(principal.keyId, "RATE_LIMITED", nowMilliseconds);
      return { principal, bucket, refusal: keyRateLimited() };
    }
    deps.usage.record(principal.keyId, nowMilliseconds);
    deps.usage.recordOutcome(principal.keyId, "VALID", nowMilliseconds);
    return { principal, bucket, refusal: null };
  };
  const decision = deps.rateLimiter.take(bucketName(BUCKET_KINDS.key, principal.keyId), policy, nowMilliseconds);
  return decision instanceof Promise ? decision.then(admission) : admission(decision);
}

/**
 * Whether this client's failed authentications may have emptied its failure bucket, as far as memory can tell
 * without a wait: the fast lane then leaves the request to the full pipeline, which answers the 429.
 */
function mayBeThrottled(deps: AdmissionDeps, request: AdmissionRequest, nowMilliseconds: number): boolean {
  if (!deps.authFailures.mayThrottle(nowMilliseconds)) return false;
  const clientIp = request.clientIp();
  if (clientIp === null) return false;
  const policy = deps.settings.authFailurePolicy;
  const tokens = deps.rateLimiter.peek(bucketName(BUCKET_KINDS.authFailures, clientIp), policy, nowMilliseconds);
  return tokens instanceof Promise || tokens < 1;
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
function keyRateLimited(): AppError {
  return rateLimited("The key's rate limit is exhausted.");
}
