/**
 * Shared buckets in Redis: each bucket is one hash (tokens, and the latest time any node refilled it), changed only by
 * one atomic Lua script, so concurrent leases from any number of nodes never take more than the bucket holds. The
 * rule is leaseTokens' (src/domain/ratelimit/bucket.ts). Live nodes are a sorted set of heartbeats.
 *
 * Bun's RedisClient, with `enableOfflineQueue: false` (a command never waits for a reconnect) and a deadline on every
 * call (in SharedRateLimiter); only commands and Lua, never its pub/sub (it stops delivering after a reconnect).
 */
import { RedisClient } from "bun";
import { withDeadline } from "../../lib/deadline.ts";
import type { RateLimitPolicy } from "./bucket.ts";
import { type LeaseResult, type LeaseSource, NODE_LIVENESS_MILLISECONDS } from "./lease-source.ts";
import { RedisUnreachableError } from "./redis-unreachable.ts";

/** Every lease and heartbeat gives up after this long, and the node decides alone (the hot path waits no longer). */
const REDIS_DEADLINE_MILLISECONDS = 50;
const REDIS_CONNECT_MILLISECONDS = 3_000;

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

export class RedisLeaseSource implements LeaseSource {
  readonly name = "redis";
  readonly deadlineMilliseconds = REDIS_DEADLINE_MILLISECONDS;
  readonly whenUnanswered = "share";
  private leaseSha: string | null = null;

  private constructor(
    private readonly client: RedisClient,
    private readonly keyPrefix: string,
  ) {}

  /**
   * Connects, or fails the start when Redis cannot be reached within a few seconds: a node that never saw Redis does
   * not know how many nodes share each limit, so it could only guess its share. (Losing Redis later is survived.)
   */
  static async connect(url: string, keyPrefix: string): Promise<RedisLeaseSource> {
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
    return new RedisLeaseSource(client, keyPrefix);
  }

  async lease(name: string, policy: RateLimitPolicy, want: number, nowMilliseconds: number): Promise<LeaseResult> {
    const key = `${this.keyPrefix}:bucket:${name}`;
    const args = [String(policy.limit), String(policy.windowSeconds * 1000), String(want), String(nowMilliseconds)];
    const [granted, left, untilFullMs, untilNextMs] = (await this.evaluate(LEASE_SCRIPT, "leaseSha", [key], args)) as [
      number,
      string,
      number,
      number,
    ];
    return { granted, left: Number(left), untilFullMs, untilNextMs };
  }

  async beat(nodeId: string): Promise<number> {
    const live = await this.evaluate(
      NODES_SCRIPT,
      null,
      [`${this.keyPrefix}:nodes`],
      [nodeId, String(NODE_LIVENESS_MILLISECONDS)],
    );
    return Number(live);
  }

  /** Bun's client gives up reconnecting after an idle close or its retries; this asks it again. */
  reconnect(): void {
    if (!this.client.connected) this.client.connect().catch(() => {});
  }

  async close(): Promise<void> {
    this.client.close();
  }

  /** EVALSHA (loading the script on NOSCRIPT); the caller sets the deadline. */
  private async evaluate(script: string, cached: "leaseSha" | null, keys: string[], args: string[]): Promise<unknown> {
    const sha = cached === null ? null : this.leaseSha;
    if (sha !== null) {
      try {
        return await this.client.send("EVALSHA", [sha, String(keys.length), ...keys, ...args]);
      } catch (error) {
        if (!String((error as Error).message).includes("NOSCRIPT")) throw error;
      }
    }
    if (cached !== null) this.leaseSha = (await this.client.send("SCRIPT", ["LOAD", script])) as string;
    return this.client.send("EVAL", [script, String(keys.length), ...keys, ...args]);
  }
}
