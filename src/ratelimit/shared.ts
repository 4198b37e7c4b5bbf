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
 * last seconds, kept from before the outage): the total stays near the limit, never a 5xx. Once Redis answers again,
 * leasing resumes and the buckets are shared and exact again.
 */
import { RedisClient } from "bun";
import { withDeadline } from "../lib/deadline.ts";
import type { Logger } from "../lib/logger.ts";
import type { SharedBucketStats } from "../lib/metrics.ts";
import type { BucketDecision, RateLimitPolicy } from "./bucket.ts";
import { type Limiter, RateLimiter } from "./limiter.ts";

/** The most tokens one lease takes. */
export const MAX_LEASE = 64;
/** A lease not spent within this long is dropped (its tokens are lost, never returned: sharing stays exact). */
export const LEASE_TTL_MILLISECONDS = 2_000;
/** Every Redis call gives up after this long, and the node decides alone. */
export const REDIS_DEADLINE_MILLISECONDS = 50;
const NODE_HEARTBEAT_MILLISECONDS = 1_000;
const REDIS_CONNECT_MILLISECONDS = 3_000;

export class RedisUnreachableError extends Error {
  override name = "RedisUnreachableError";
}
const LEASE_ROUNDS = 4;
/** A node not seen for this long is no longer counted among the live ones. */
const NODE_LIVENESS_MILLISECONDS = 5_000;

/**
 * KEYS[1] the bucket; ARGV limit, window (ms), tokens wanted, the node's time (ms). Returns {granted, tokens left, ms
 * until full, ms until the next whole token}. Refill and the grant happen in one atomic step.
 */
const LEASE_SCRIPT = `
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
local rate = limit / window
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then tokens = limit; at = now end
if now > at then tokens = math.min(limit, tokens + (now - at) * rate); at = now end
local grant = math.min(want, math.floor(tokens), math.max(1, math.floor(tokens / 8)))
if grant < 0 then grant = 0 end
tokens = tokens - grant
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
redis.call('PEXPIRE', KEYS[1], window * 2 + 1000)
local untilFull = math.ceil((limit - tokens) / rate)
local untilNext = 0
if tokens < 1 then untilNext = math.ceil((1 - tokens) / rate) end
return {grant, tostring(tokens), untilFull, untilNext}
`;

/** KEYS[1] the live-node set; ARGV node id, liveness (ms). Registers the node and returns how many are live. */
const NODES_SCRIPT = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 4)
return redis.call('ZCARD', KEYS[1])
`;

interface Lease {
  /** Leased tokens not yet spent. */
  tokens: number;
  leasedAtMs: number;
  /** What the bucket held after the last lease, for the remaining-tokens header. */
  remoteTokens: number;
  fullAtMs: number;
  /** Refuse without asking Redis until then (the last lease came back empty). */
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
  private leaseSha: string | null = null;
  private heartbeat: ReturnType<typeof setInterval> | null = null;
  readonly counters: SharedLimiterCounters = {
    leases: 0,
    leasedTokens: 0,
    localHits: 0,
    redisErrors: 0,
    fallbackDecisions: 0,
  };

  private constructor(
    private readonly client: RedisClient,
    private readonly keyPrefix: string,
    private readonly logger: Logger,
    maxBuckets: number,
  ) {
    this.fallback = new RateLimiter({ maxBuckets });
  }

  /** Connects (failing the start if Redis cannot be reached now) and starts the node heartbeat. */
  /**
   * Connects, or fails the start when Redis cannot be reached within a few seconds: a node that never saw Redis does
   * not know how many nodes share each limit, so it could only guess its share. (Losing Redis later is survived.)
   */
  static async connect(url: string, logger: Logger, options: { keyPrefix?: string; maxBuckets?: number } = {}) {
    const client = new RedisClient(url, {
      enableOfflineQueue: false,
      connectionTimeout: REDIS_CONNECT_MILLISECONDS,
      autoReconnect: true,
      maxRetries: 1_000_000,
    });
    try {
      await withDeadline(client.connect(), REDIS_CONNECT_MILLISECONDS, "redis");
    } catch {
      client.close();
      const where = new URL(url);
      throw new RedisUnreachableError(`cannot reach Redis at ${where.host} (LATCHKEY_REDIS_URL)`);
    }
    const limiter = new SharedRateLimiter(
      client,
      options.keyPrefix ?? "latchkey",
      logger,
      options.maxBuckets ?? 50_000,
    );
    await limiter.beat();
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
      if (!this.leases.has(name)) return this.fallback.peek(name, this.fallbackPolicy(policy), nowMilliseconds);
    }
    return 0;
  }

  async close(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.client.close();
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
    const result = await this.leaseFromRedis(name, policy, want, nowMilliseconds);
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
    const result = await this.leaseFromRedis(name, policy, 1, nowMilliseconds);
    if (result === null) return this.fallbackTake(name, policy, nowMilliseconds);
    return decision(result.granted === 1, leaseOf(result, 0, nowMilliseconds), policy, nowMilliseconds);
  }

  /** Runs the lease script; null when Redis could not answer in time. */
  private async leaseFromRedis(name: string, policy: RateLimitPolicy, want: number, nowMilliseconds: number) {
    const key = `${this.keyPrefix}:bucket:${name}`;
    const args = [String(policy.limit), String(policy.windowSeconds * 1000), String(want), String(nowMilliseconds)];
    let result: [number, string, number, number];
    try {
      result = (await this.evaluate(LEASE_SCRIPT, "leaseSha", [key], args)) as [number, string, number, number];
    } catch (error) {
      this.failed(error);
      return null;
    }
    this.redisReachable = true;
    const [granted, left, untilFullMs, untilNextMs] = result;
    this.counters.leases++;
    this.counters.leasedTokens += granted;
    return { granted, left: Number(left), untilFullMs, untilNextMs } satisfies LeaseResult;
  }

  /** Redis unreachable: this node's own bucket, a share of the limit by the live nodes it last saw. */
  private fallbackTake(name: string, policy: RateLimitPolicy, nowMilliseconds: number): BucketDecision {
    this.counters.fallbackDecisions++;
    return this.fallback.take(name, this.fallbackPolicy(policy), nowMilliseconds);
  }

  private fallbackPolicy(policy: RateLimitPolicy): RateLimitPolicy {
    return {
      limit: Math.max(1, Math.floor(policy.limit / Math.max(1, this.liveNodes))),
      windowSeconds: policy.windowSeconds,
    };
  }

  private async beat(): Promise<void> {
    try {
      const live = await this.evaluate(
        NODES_SCRIPT,
        null,
        [`${this.keyPrefix}:nodes`],
        [this.nodeId, String(NODE_LIVENESS_MILLISECONDS)],
      );
      this.liveNodes = Math.max(1, Number(live));
      if (!this.redisReachable) this.logger.info("redis reachable again: buckets shared", { nodes: this.liveNodes });
      this.redisReachable = true;
    } catch (error) {
      this.failed(error);
      // Bun's client gives up reconnecting after an idle close or its retries; ask it again, once a beat.
      if (!this.client.connected) this.client.connect().catch(() => {});
    }
  }

  private failed(error: unknown): void {
    this.counters.redisErrors++;
    if (this.redisReachable) {
      this.logger.warn("redis unreachable: deciding locally with a share of each limit", {
        nodes: this.liveNodes,
        error: error instanceof Error ? error.message : String(error),
      });
    }
    this.redisReachable = false;
  }

  /** EVALSHA (loading the script on NOSCRIPT), within the deadline. */
  private async evaluate(script: string, cached: "leaseSha" | null, keys: string[], args: string[]): Promise<unknown> {
    const sha = cached === null ? null : this.leaseSha;
    const run = async () => {
      if (sha !== null) {
        try {
          return await this.client.send("EVALSHA", [sha, String(keys.length), ...keys, ...args]);
        } catch (error) {
          if (!String((error as Error).message).includes("NOSCRIPT")) throw error;
        }
      }
      if (cached !== null) this.leaseSha = (await this.client.send("SCRIPT", ["LOAD", script])) as string;
      return this.client.send("EVAL", [script, String(keys.length), ...keys, ...args]);
    };
    return withDeadline(run(), REDIS_DEADLINE_MILLISECONDS, "redis");
  }
}

interface LeaseResult {
  granted: number;
  left: number;
  untilFullMs: number;
  untilNextMs: number;
}

/** What a node holds after a lease: what it already held plus what was granted, and what the bucket said. */
function leaseOf(result: LeaseResult, stillHeld: number, nowMilliseconds: number): Lease {
  return {
    tokens: stillHeld + result.granted,
    leasedAtMs: nowMilliseconds,
    remoteTokens: result.left,
    fullAtMs: nowMilliseconds + result.untilFullMs,
    emptyUntilMs: result.granted === 0 ? nowMilliseconds + result.untilNextMs : nowMilliseconds,
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
