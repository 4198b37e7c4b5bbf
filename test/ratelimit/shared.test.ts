/**
 * Buckets shared through Redis (src/domain/ratelimit/shared.ts), against a real Redis: each limiter here is one node.
 * Runs in the PostgreSQL + Redis pass (LATCHKEY_TEST_REDIS_URL); without Redis it says so and skips.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { RateLimitPolicy } from "../../src/domain/ratelimit/bucket.ts";
import { RedisUnreachableError, SharedRateLimiter } from "../../src/domain/ratelimit/shared.ts";
import { createLogger } from "../../src/lib/logger.ts";
import { testRedisUrl } from "../support/engines.ts";

const redisUrl = testRedisUrl();
const NOTE = redisUrl
  ? "(Redis)"
  : "(skipped: needs Redis, LATCHKEY_TEST_REDIS_URL; runs in the PostgreSQL + Redis pass)";

describe.skipIf(redisUrl === undefined)(`shared buckets ${NOTE}`, () => {
  const open: SharedRateLimiter[] = [];
  afterEach(async () => {
    for (const limiter of open.splice(0)) await limiter.close();
  });
  const prefix = () => `latchkey_test_shared_${crypto.randomUUID().slice(0, 8)}`;
  async function node(keyPrefix: string): Promise<SharedRateLimiter> {
    const limiter = await SharedRateLimiter.connect(redisUrl!, createLogger("silent"), { keyPrefix });
    open.push(limiter);
    return limiter;
  }
  const admitted = (decisions: { allowed: boolean }[]) => decisions.filter((decision) => decision.allowed).length;

  test("regression: 2,000 concurrent requests on a roomy bucket all pass, none lost to the lease race", async () => {
    const limiter = await node(prefix());
    const policy: RateLimitPolicy = { limit: 1_000_000, windowSeconds: 1 };
    const decisions = await Promise.all(Array.from({ length: 2000 }, () => limiter.take("roomy", policy, 1_000)));
    expect(admitted(decisions)).toBe(2000);
  });

  test("regression: fewer concurrent requests than a bucket holds all pass, on one node and three", async () => {
    const keyPrefix = prefix();
    const nodes = [await node(keyPrefix), await node(keyPrefix), await node(keyPrefix)];
    const cases = [
      { policy: { limit: 1000, windowSeconds: 60 }, requests: 400 },
      { policy: { limit: 30, windowSeconds: 60 }, requests: 15 },
    ];
    for (const spread of [1, 3]) {
      for (const { policy, requests } of cases) {
        for (let trial = 0; trial < 20; trial++) {
          const name = `room-${spread}-${policy.limit}-${trial}`;
          // Each node's first request reads the clock last (the others began earlier and waited on something).
          const decisions = await Promise.all(
            Array.from({ length: requests }, (_, index) =>
              nodes[index % spread]!.take(name, policy, index < spread ? 2_000 : 1_000 + index),
            ),
          );
          expect(admitted(decisions)).toBe(requests);
        }
      }
    }
  });

  test("two nodes on one bucket admit exactly its size between them, concurrently", async () => {
    const keyPrefix = prefix();
    const [first, second] = [await node(keyPrefix), await node(keyPrefix)];
    const policy: RateLimitPolicy = { limit: 100, windowSeconds: 3600 };
    const burst = await Promise.all(
      Array.from({ length: 300 }, (_, index) => (index % 2 === 0 ? first : second).take("shared", policy, 1_000)),
    );
    expect(admitted(burst)).toBeLessThanOrEqual(100);
    // A lease a node still holds when its burst ends is spent by its next requests: then the total is exact.
    const after: { allowed: boolean; retryAfterSeconds: number }[] = [];
    for (let index = 0; index < 100; index++)
      after.push(await (index % 2 === 0 ? first : second).take("shared", policy, 1_000));
    expect(admitted(burst) + admitted(after)).toBe(100);
    // Refusals say when to retry, from the bucket's own refill rate (36 s per token).
    expect(after.at(-1)!.retryAfterSeconds).toBeGreaterThanOrEqual(1);
  });

  test("refill follows the nodes' clocks, only forward: a node whose clock lags adds nothing", async () => {
    const keyPrefix = prefix();
    const [ahead, behind] = [await node(keyPrefix), await node(keyPrefix)];
    const policy: RateLimitPolicy = { limit: 10, windowSeconds: 10 };
    const takeAll = async (limiter: SharedRateLimiter, count: number, at: number) => {
      const decisions = [];
      for (let index = 0; index < count; index++) decisions.push(await limiter.take("clock", policy, at));
      return admitted(decisions);
    };
    expect(await takeAll(ahead, 12, 100_000)).toBe(10);
    // Five seconds behind the latest time the bucket saw: no refill from its point of view.
    expect(await takeAll(behind, 3, 95_000)).toBe(0);
    // Two seconds on from the latest time seen: two tokens refilled.
    expect(await takeAll(ahead, 4, 102_000)).toBe(2);
  });

  test("a node does not start against a Redis it cannot reach (losing it later: test/scale/buckets)", async () => {
    const limiter = await SharedRateLimiter.connect("redis://127.0.0.1:1", createLogger("silent"), {
      keyPrefix: prefix(),
    }).catch((error: unknown) => error);
    expect(limiter).toBeInstanceOf(RedisUnreachableError);
    expect(String(limiter)).toContain("cannot reach Redis at 127.0.0.1:1");
  });
});
