/**
 * Buckets shared by every node, in Redis, without a Redis round trip per request.
 *
 * Each bucket is one Redis hash (tokens, and the latest time any node refilled it). Refill runs on the nodes' clocks
 * but only ever forward: a node whose clock lags behind the latest time seen adds nothing until it catches up, so
 * clock skew between nodes can delay refill by the skew, never add tokens. A node never spends a Redis token
 * directly: it *leases* a few at once with an atomic Lua script and spends them from memory. The script grants at most
 * an eighth of what the bucket holds (at least one while a whole token is there), so leases shrink toward one token
 * as the bucket empties and leasing becomes strict exactly when it matters. Tokens leave Redis when leased, so:
 *
 *   admitted by all nodes over any interval T  ≤  leased over T  ≤  limit + rate × T
 *
 * whatever the number of nodes: sharing can never over-admit. What it can do is under-admit by tokens a node leased
 * and did not spend: at most one lease per node (its size at most `MAX_LEASE` and an eighth of the bucket), lost
 * when the node stops or its traffic moves elsewhere (a lease older than LEASE_TTL is dropped). When a lease comes
 * back empty, the node refuses locally until the script's "next token" time, without asking Redis again.
 *
 * When Redis cannot be reached (every call has a deadline; nothing waits in an offline queue) the node spends what
 * it holds, then falls back to a bucket of its own of `limit / live nodes` (the count of nodes seen in Redis in the
 * last seconds, kept from before the outage), never a 5xx. That share is charged with every token the node leased
 * while Redis answered (a node that took more than its share owes the rest, up to the whole limit, before it admits
 * again), so the outage starts from what each node already spent, not from a full bucket: over an outage the nodes
 * admit at most what was left, plus what each node had spent beyond its share, plus refill (docs/scale-out.md). Once
 * Redis answers again, leasing resumes and the buckets are shared and exact again. (That is Redis's choice,
 * LeaseSource.whenUnanswered; the workers of one host, leasing from their primary, refuse instead: exact whatever
 * happens.)
 */

import { withDeadline } from "../../lib/deadline.ts";
import { causeFields } from "../../lib/errors.ts";
import type { Logger } from "../../lib/logger.ts";
import type { SharedBucketStats } from "../../lib/metrics.ts";
import type { BucketDecision, RateLimitPolicy } from "./bucket.ts";
import type { LeaseResult, LeaseSource } from "./lease-source.ts";
import { type Limiter, RateLimiter } from "./limiter.ts";
import { RedisLeaseSource } from "./redis-source.ts";

export { RedisUnreachableError } from "./redis-unreachable.ts";

/** The most tokens one lease takes. */
const MAX_LEASE = 64;
/** A lease not spent within this long is dropped (its tokens are lost, never returned: sharing stays exact). */
const LEASE_TTL_MILLISECONDS = 2_000;
const NODE_HEARTBEAT_MILLISECONDS = 1_000;
const FIRST_BEAT_DEADLINE_MILLISECONDS = 200;
const FIRST_BEAT_ATTEMPTS = 10;
const LEASE_ROUNDS = 4;

interface Lease {
  /** Leased tokens not yet spent. */
  tokens: number;
  leasedAtMs: number;
  /** What the bucket held after the last lease, for the remaining-tokens header. */
  remoteTokens: number;
  fullAtMs: number;
  /**
   * Refuse without asking again until then: set only when the last lease came back empty. A lease that granted
   * tokens says nothing of when they run out, so a request that read its clock before the lease arrived and finds
   * those tokens spent by others asks for more rather than being refused while the bucket still holds plenty.
   */
  emptyUntilMs: number;
}

export interface SharedLimiterCounters {
  leases: number;
  leasedTokens: number;
  /** Requests answered from a lease held in memory. */
  localHits: number;
  redisErrors: number;
  fallbackDecisions: number;
}

export class SharedRateLimiter implements Limiter {
  private readonly leases = new Map<string, Lease>();
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly fallback: RateLimiter;
  private readonly nodeId = crypto.randomUUID();
  private liveNodes = 1;
  private redisReachable = true;
  private heartbeat: ReturnType<typeof setInterval> | null = null;
  readonly counters: SharedLimiterCounters = {
    leases: 0,
    leasedTokens: 0,
    localHits: 0,
    redisErrors: 0,
    fallbackDecisions: 0,
  };

  private constructor(
    private readonly source: LeaseSource,
    private readonly logger: Logger,
    maxBuckets: number,
  ) {
    this.fallback = new RateLimiter({ maxBuckets });
  }

  /** Buckets shared through Redis (failing the start when it cannot be reached: see RedisLeaseSource.connect). */
  static async connect(url: string, logger: Logger, options: { keyPrefix?: string; maxBuckets?: number } = {}) {
    const source = await RedisLeaseSource.connect(url, options.keyPrefix ?? "latchkey");
    return SharedRateLimiter.start(source, logger, options.maxBuckets ?? 50_000);
  }

  /** A limiter leasing from `source`, with the node heartbeat that counts live nodes started. */
  static async start(source: LeaseSource, logger: Logger, maxBuckets = 50_000): Promise<SharedRateLimiter> {
    const limiter = new SharedRateLimiter(source, logger, maxBuckets);
    // A worker's first messages may be lost while its IPC channel opens: ask again, briefly, before going on.
    for (
      let attempt = 0;
      attempt < FIRST_BEAT_ATTEMPTS && !(await limiter.beat(FIRST_BEAT_DEADLINE_MILLISECONDS));
      attempt++
    );
    limiter.heartbeat = setInterval(() => void limiter.beat(), NODE_HEARTBEAT_MILLISECONDS);
    limiter.heartbeat.unref();
    return limiter;
  }

  get size(): number {
    return this.leases.size + this.fallback.size;
  }

  /** Nodes seen in the last few seconds (this one included); the fallback divides each limit by it. */
  get nodes(): number {
    return this.liveNodes;
  }

  get reachable(): boolean {
    return this.redisReachable;
  }

  stats(): SharedBucketStats {
    return { ...this.counters, reachable: this.redisReachable, nodes: this.liveNodes };
  }

  async take(name: string, policy: RateLimitPolicy, nowMilliseconds: number): Promise<BucketDecision> {
    // A few rounds at most: callers that waited on one lease may find its tokens spent by the others before them.
    for (let round = 0; round < LEASE_ROUNDS; round++) {
      const lease = this.leases.get(name);
      if (this.usable(lease, nowMilliseconds)) {
        if (round === 0) this.counters.localHits++;
        if (lease.tokens < 1) return decision(false, lease, policy, nowMilliseconds);
        lease.tokens--;
        return decision(true, lease, policy, nowMilliseconds);
      }
      await this.refill(name, policy, MAX_LEASE, nowMilliseconds);
      if (!this.leases.has(name)) return this.fallbackTake(name, policy, nowMilliseconds);
    }
    return this.takeOwn(name, policy, nowMilliseconds);
  }

  async peek(name: string, policy: RateLimitPolicy, nowMilliseconds: number): Promise<number> {
    for (let round = 0; round < LEASE_ROUNDS; round++) {
      const lease = this.leases.get(name);
      if (this.usable(lease, nowMilliseconds)) return Math.floor(lease.tokens);
      await this.refill(name, policy, 1, nowMilliseconds);
      if (!this.leases.has(name)) {
        if (this.source.whenUnanswered === "refuse") return 0;
        return this.fallback.peek(name, this.fallbackPolicy(policy), nowMilliseconds);
      }
    }
    return 0;
  }

  async close(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    await this.source.close();
  }

  /** A lease that can answer now: tokens in hand, or a recent "empty until" that still holds. */
  private usable(lease: Lease | undefined, nowMilliseconds: number): lease is Lease {
    if (lease === undefined || nowMilliseconds - lease.leasedAtMs > LEASE_TTL_MILLISECONDS) return false;
    return lease.tokens >= 1 || nowMilliseconds < lease.emptyUntilMs;
  }

  /** Leases more tokens for `name` (one lease at a time per bucket; concurrent callers wait for it). */
  private async refill(name: string, policy: RateLimitPolicy, want: number, nowMilliseconds: number): Promise<void> {
    const pending = this.inflight.get(name);
    if (pending) return pending;
    const leasing = this.lease(name, policy, want, nowMilliseconds).finally(() => this.inflight.delete(name));
    this.inflight.set(name, leasing);
    return leasing;
  }

  private async lease(name: string, policy: RateLimitPolicy, want: number, nowMilliseconds: number): Promise<void> {
    const result = await this.leaseFromSource(name, policy, want, nowMilliseconds);
    if (result === null) {
      this.leases.delete(name);
      return;
    }
    const held = this.leases.get(name);
    const stillHeld = held && nowMilliseconds - held.leasedAtMs <= LEASE_TTL_MILLISECONDS ? held.tokens : 0;
    this.leases.set(name, leaseOf(result, stillHeld, nowMilliseconds));
  }

  /**
   * For a caller that lost every round to others spending the shared lease first (many concurrent requests for one
   * bucket): one token for it alone, straight from Redis, so it is refused only when the bucket itself is empty.
   */
  private async takeOwn(name: string, policy: RateLimitPolicy, nowMilliseconds: number): Promise<BucketDecision> {
    const result = await this.leaseFromSource(name, policy, 1, nowMilliseconds);
    if (result === null) return this.fallbackTake(name, policy, nowMilliseconds);
    return decision(result.granted === 1, leaseOf(result, 0, nowMilliseconds), policy, nowMilliseconds);
  }

  /** A lease from the source; null when it could not answer in time. */
  private async leaseFromSource(name: string, policy: RateLimitPolicy, want: number, nowMilliseconds: number) {
    let result: LeaseResult;
    try {
      result = await withDeadline(
        this.source.lease(name, policy, want, nowMilliseconds),
        this.source.deadlineMilliseconds,
        this.source.name,
      );
    } catch (error) {
      this.failed(error);
      return null;
    }
    this.redisReachable = true;
    this.counters.leases++;
    this.counters.leasedTokens += result.granted;
    if (this.source.whenUnanswered === "share" && result.granted > 0) {
      // What this node took is spent from its fallback share too, so an outage starts from what it already used.
      // The debt stops at the whole limit: more than that cannot have left the shared bucket within one window.
      const share = this.fallbackPolicy(policy);
      this.fallback.spend(name, share, result.granted, share.limit - policy.limit, nowMilliseconds);
    }
    return result;
  }

  /**
   * No lease in time: this node's own bucket, a share of the limit by the live nodes it last saw, or a refusal for a
   * source that must stay exact (LeaseSource.whenUnanswered).
   */
  private fallbackTake(name: string, policy: RateLimitPolicy, nowMilliseconds: number): BucketDecision {
    this.counters.fallbackDecisions++;
    if (this.source.whenUnanswered === "refuse") {
      return {
        allowed: false,
        bucket: { tokens: 0, updatedAtMs: nowMilliseconds },
        remaining: 0,
        fullAtMs: nowMilliseconds + policy.windowSeconds * 1000,
        retryAfterSeconds: 1,
      };
    }
    return this.fallback.take(name, this.fallbackPolicy(policy), nowMilliseconds);
  }

  private fallbackPolicy(policy: RateLimitPolicy): RateLimitPolicy {
    return {
      limit: Math.max(1, Math.floor(policy.limit / Math.max(1, this.liveNodes))),
      windowSeconds: policy.windowSeconds,
    };
  }

  /** Registers this node and learns how many are live; false when the source did not answer in time. */
  private async beat(deadlineMilliseconds = this.source.deadlineMilliseconds): Promise<boolean> {
    try {
      const live = await withDeadline(this.source.beat(this.nodeId), deadlineMilliseconds, this.source.name);
      this.liveNodes = Math.max(1, live);
      if (!this.redisReachable) {
        this.logger.info(`${this.source.name} reachable again: buckets shared`, { nodes: this.liveNodes });
      }
      this.redisReachable = true;
      return true;
    } catch (error) {
      this.failed(error);
      this.source.reconnect();
      return false;
    }
  }

  private failed(error: unknown): void {
    this.counters.redisErrors++;
    if (this.redisReachable) {
      this.logger.warn(`${this.source.name} unreachable: deciding locally with a share of each limit`, {
        nodes: this.liveNodes,
        ...causeFields(error),
      });
    }
    this.redisReachable = false;
  }
}

/** What a node holds after a lease: what it already held plus what was granted, and what the bucket said. */
function leaseOf(result: LeaseResult, stillHeld: number, nowMilliseconds: number): Lease {
  return {
    tokens: stillHeld + result.granted,
    leasedAtMs: nowMilliseconds,
    remoteTokens: result.left,
    fullAtMs: nowMilliseconds + result.untilFullMs,
    emptyUntilMs: result.granted === 0 ? nowMilliseconds + result.untilNextMs : Number.NEGATIVE_INFINITY,
  };
}

function decision(allowed: boolean, lease: Lease, policy: RateLimitPolicy, nowMilliseconds: number): BucketDecision {
  const remaining = Math.floor(lease.tokens + lease.remoteTokens);
  const retryAfterMs = Math.max(0, lease.emptyUntilMs - nowMilliseconds);
  return {
    allowed,
    bucket: { tokens: lease.tokens, updatedAtMs: nowMilliseconds },
    remaining: Math.min(policy.limit, remaining),
    // Leased tokens not yet spent are still the client's: the bucket is full that much sooner than Redis's copy.
    fullAtMs: Math.max(Math.ceil(lease.fullAtMs - lease.tokens * millisecondsPerToken(policy)), nowMilliseconds),
    retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil(retryAfterMs / 1000)),
  };
}

function millisecondsPerToken(policy: RateLimitPolicy): number {
  return (policy.windowSeconds * 1000) / policy.limit;
}
