/**
 * The token bucket, decided purely from (bucket, policy, now).
 *
 * A policy `{limit, windowSeconds}` is a bucket of `limit` tokens that refills continuously at
 * `limit / windowSeconds` tokens per second. A request takes one token or is refused. Over any interval of length T a
 * client is therefore admitted at most `limit + rate × T` times, and under overload exactly that many (less the
 * fraction of a token not yet refilled). A bucket nobody has seen is full.
 */
export interface RateLimitPolicy {
  limit: number;
  windowSeconds: number;
}

export interface Bucket {
  tokens: number;
  updatedAtMs: number;
}

export interface BucketDecision {
  allowed: boolean;
  bucket: Bucket;
  /** Whole tokens left after this request. */
  remaining: number;
  /** When the bucket will be full again, if nothing else is taken. */
  fullAtMs: number;
  /** Seconds until a retry will be admitted (whole, at least 1); 0 when allowed. */
  retryAfterSeconds: number;
}

/** Whether `inner` never admits more than `outer`: no larger a burst, and no faster a refill. */
export function isPolicyWithin(inner: RateLimitPolicy, outer: RateLimitPolicy): boolean {
  // inner.limit / inner.windowSeconds <= outer.limit / outer.windowSeconds, in integers.
  return inner.limit <= outer.limit && inner.limit * outer.windowSeconds <= outer.limit * inner.windowSeconds;
}

/**
 * The largest policy within both: the smaller burst, refilled no faster than the slower of the two (its window
 * rounded up, which only slows it). The window never exceeds the slower policy's own.
 */
export function narrowerPolicy(first: RateLimitPolicy, second: RateLimitPolicy): RateLimitPolicy {
  const slower = first.limit * second.windowSeconds <= second.limit * first.windowSeconds ? first : second;
  const limit = Math.min(first.limit, second.limit);
  return { limit, windowSeconds: Math.ceil((limit * slower.windowSeconds) / slower.limit) };
}

function refillRatePerMillisecond(policy: RateLimitPolicy): number {
  return policy.limit / (policy.windowSeconds * 1000);
}

export function takeToken(
  bucket: Bucket | undefined,
  policy: RateLimitPolicy,
  nowMilliseconds: number,
): BucketDecision {
  const rate = refillRatePerMillisecond(policy);
  const elapsedMs = bucket === undefined ? 0 : Math.max(0, nowMilliseconds - bucket.updatedAtMs);
  const available = bucket === undefined ? policy.limit : Math.min(policy.limit, bucket.tokens + elapsedMs * rate);
  const allowed = available >= 1;
  const tokens = allowed ? available - 1 : available;
  const next: Bucket = { tokens, updatedAtMs: nowMilliseconds };
  return {
    allowed,
    bucket: next,
    remaining: Math.max(0, Math.floor(tokens)),
    fullAtMs: nowMilliseconds + Math.ceil((policy.limit - tokens) / rate),
    retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil((1 - tokens) / rate / 1000)),
  };
}

/** What a lease tells its taker: the same from Redis, the primary of --workers, or this process. */
export interface LeaseResult {
  /** Tokens taken out of the bucket for the caller to spend. */
  granted: number;
  /** Tokens left in the bucket after the grant (fractional). */
  left: number;
  untilFullMs: number;
  /** Until the next whole token, when less than one is left; 0 otherwise. */
  untilNextMs: number;
}

export interface LeaseGrant extends LeaseResult {
  /** The bucket as the grant leaves it. */
  bucket: Bucket;
}

/**
 * A lease: up to `want` tokens at once, for a node (or worker) to spend from memory. At most an eighth of what the
 * bucket holds (at least one while a whole token is there), so leases shrink toward one token as the bucket empties.
 * Refill only moves forward: a caller whose clock is behind the bucket's adds nothing. The same rule as the Lua
 * script of src/domain/ratelimit/redis-source.ts, for buckets shared within one host.
 */
export function leaseTokens(
  bucket: Bucket | undefined,
  policy: RateLimitPolicy,
  want: number,
  nowMilliseconds: number,
): LeaseGrant {
  const rate = refillRatePerMillisecond(policy);
  const at = bucket === undefined ? nowMilliseconds : Math.max(bucket.updatedAtMs, nowMilliseconds);
  const available =
    bucket === undefined ? policy.limit : Math.min(policy.limit, bucket.tokens + (at - bucket.updatedAtMs) * rate);
  const granted = Math.max(0, Math.min(want, Math.floor(available), Math.max(1, Math.floor(available / 8))));
  const left = available - granted;
  return {
    granted,
    bucket: { tokens: left, updatedAtMs: at },
    left,
    untilFullMs: Math.ceil((policy.limit - left) / rate),
    untilNextMs: left < 1 ? Math.ceil((1 - left) / rate) : 0,
  };
}

/**
 * A bucket after `count` tokens were spent at once somewhere else (what a node leased from a shared bucket), falling
 * as low as `floorTokens`: below zero, a debt that refill pays off before the bucket admits again.
 */
export function spendTokens(
  bucket: Bucket | undefined,
  policy: RateLimitPolicy,
  count: number,
  floorTokens: number,
  nowMilliseconds: number,
): { bucket: Bucket; fullAtMs: number } {
  const tokens = Math.max(floorTokens, tokensAt(bucket, policy, nowMilliseconds) - count);
  return {
    bucket: { tokens, updatedAtMs: nowMilliseconds },
    fullAtMs: nowMilliseconds + Math.ceil((policy.limit - tokens) / refillRatePerMillisecond(policy)),
  };
}

/** The bucket as it stands at `nowMilliseconds` without taking anything (for a check before work is done). */
export function tokensAt(bucket: Bucket | undefined, policy: RateLimitPolicy, nowMilliseconds: number): number {
  if (bucket === undefined) return policy.limit;
  const elapsedMs = Math.max(0, nowMilliseconds - bucket.updatedAtMs);
  return Math.min(policy.limit, bucket.tokens + elapsedMs * refillRatePerMillisecond(policy));
}

/**
 * A bucket recreated after it was evicted: as full as it would be had it been empty until `fullAtMs` minus the time
 * it takes to fill, i.e. never fuller than the evicted one would be now (a debt, see spendTokens, included).
 */
export function bucketRememberedFullAt(
  fullAtMs: number,
  policy: RateLimitPolicy,
  nowMilliseconds: number,
): Bucket | undefined {
  if (fullAtMs <= nowMilliseconds) return undefined;
  const missing = (fullAtMs - nowMilliseconds) * refillRatePerMillisecond(policy);
  return { tokens: policy.limit - missing, updatedAtMs: nowMilliseconds };
}
