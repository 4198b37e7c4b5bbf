/**
 * Buckets in memory, in a bounded LRU, so memory stays flat however many clients there are.
 *
 * Eviction must never hand a client a fresh burst: when a bucket that is not yet full is evicted, the time it would
 * have been full is written into a fixed-size table indexed by a hash of its name (keeping the later time on a
 * collision). A bucket created for a name not in the LRU starts from that table, so it is never fuller than the
 * evicted one would be. Collisions only ever make a new bucket emptier, never fuller.
 */
import type { LRUCache } from "lru-cache";
import { boundedCache } from "../../lib/bounded-cache.ts";
import type { SharedBucketStats } from "../../lib/metrics.ts";
import {
  type Bucket,
  type BucketDecision,
  bucketRememberedFullAt,
  type LeaseResult,
  leaseTokens,
  type RateLimitPolicy,
  spendTokens,
  takeToken,
  tokensAt,
} from "./bucket.ts";

interface StoredBucket extends Bucket {
  fullAtMs: number;
}

/**
 * Where buckets live: this process's memory (RateLimiter, below), or one shared bucket per name that every node draws
 * leases from (src/domain/ratelimit/shared.ts). Either may answer at once or after a round trip.
 */
export interface Limiter {
  /** Takes one token, or refuses. */
  take(name: string, policy: RateLimitPolicy, nowMilliseconds: number): BucketDecision | Promise<BucketDecision>;
  /** Whole tokens available now, without taking one. */
  peek(name: string, policy: RateLimitPolicy, nowMilliseconds: number): number | Promise<number>;
  /** Buckets held in this process's memory. */
  readonly size: number;
  /** How sharing goes (buckets shared through Redis only). */
  stats?(): SharedBucketStats;
}

export interface RateLimiterOptions {
  maxBuckets: number;
  /** Slots remembering evicted buckets; a power of two. */
  evictedSlots?: number;
}

export class RateLimiter implements Limiter {
  private readonly buckets: LRUCache<string, StoredBucket>;
  private readonly evictedFullAtMs: Float64Array;
  private readonly slotMask: number;
  /** The clock of the request being decided, read by the eviction callback. */
  private nowMilliseconds = 0;
  evictions = 0;

  constructor(options: RateLimiterOptions) {
    const slots = options.evictedSlots ?? 1 << 16;
    if ((slots & (slots - 1)) !== 0) throw new RangeError("evictedSlots must be a power of two");
    this.evictedFullAtMs = new Float64Array(slots);
    this.slotMask = slots - 1;
    this.buckets = boundedCache<string, StoredBucket>(options.maxBuckets, {
      dispose: (bucket, name, reason) => {
        if (reason !== "evict") return;
        this.evictions++;
        if (bucket.fullAtMs > this.nowMilliseconds) {
          const slot = this.slotOf(name);
          this.evictedFullAtMs[slot] = Math.max(this.evictedFullAtMs[slot]!, bucket.fullAtMs);
        }
      },
    });
  }

  take(name: string, policy: RateLimitPolicy, nowMilliseconds: number): BucketDecision {
    this.nowMilliseconds = nowMilliseconds;
    const stored = this.buckets.get(name);
    const decision = takeToken(stored ?? this.remembered(name, policy, nowMilliseconds), policy, nowMilliseconds);
    this.keep(name, stored, decision.bucket, decision.fullAtMs);
    return decision;
  }

  /** Takes a lease of up to `want` tokens (see leaseTokens): the authority of buckets shared by workers. */
  lease(name: string, policy: RateLimitPolicy, want: number, nowMilliseconds: number): LeaseResult {
    this.nowMilliseconds = nowMilliseconds;
    const stored = this.buckets.get(name);
    const { bucket, ...result } = leaseTokens(
      stored ?? this.remembered(name, policy, nowMilliseconds),
      policy,
      want,
      nowMilliseconds,
    );
    this.keep(name, stored, bucket, bucket.updatedAtMs + result.untilFullMs);
    return result;
  }

  /** Spends `count` tokens at once, down to `floorTokens` (see spendTokens). */
  spend(name: string, policy: RateLimitPolicy, count: number, floorTokens: number, nowMilliseconds: number): void {
    this.nowMilliseconds = nowMilliseconds;
    const stored = this.buckets.get(name);
    const current = stored ?? this.remembered(name, policy, nowMilliseconds);
    const { bucket, fullAtMs } = spendTokens(current, policy, count, floorTokens, nowMilliseconds);
    this.keep(name, stored, bucket, fullAtMs);
  }

  /** Whole tokens available now, without taking one. */
  peek(name: string, policy: RateLimitPolicy, nowMilliseconds: number): number {
    return Math.floor(tokensAt(this.current(name, policy, nowMilliseconds), policy, nowMilliseconds));
  }

  get size(): number {
    return this.buckets.size;
  }

  private current(name: string, policy: RateLimitPolicy, nowMilliseconds: number): Bucket | undefined {
    return this.buckets.peek(name) ?? this.remembered(name, policy, nowMilliseconds);
  }

  /**
   * Stores a bucket's new state: a held one is updated where it lies (`get` has already marked it recently used), so
   * a busy bucket makes no new entry per request; a new one is added.
   */
  private keep(name: string, stored: StoredBucket | undefined, bucket: Bucket, fullAtMs: number): void {
    if (stored === undefined) {
      this.buckets.set(name, { tokens: bucket.tokens, updatedAtMs: bucket.updatedAtMs, fullAtMs });
      return;
    }
    stored.tokens = bucket.tokens;
    stored.updatedAtMs = bucket.updatedAtMs;
    stored.fullAtMs = fullAtMs;
  }

  /** A bucket for a name not held: what the table of evicted buckets remembers of it, or none. */
  private remembered(name: string, policy: RateLimitPolicy, nowMilliseconds: number): Bucket | undefined {
    return bucketRememberedFullAt(this.evictedFullAtMs[this.slotOf(name)]!, policy, nowMilliseconds);
  }

  private slotOf(name: string): number {
    return Number(Bun.hash.wyhash(name) & BigInt(this.slotMask));
  }
}
