/**
 * The token bucket, specified as timelines on a fixed clock.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  type Bucket,
  isPolicyWithin,
  narrowerPolicy,
  type RateLimitPolicy,
  takeToken,
} from "../../src/domain/ratelimit/bucket.ts";
import { RateLimiter } from "../../src/domain/ratelimit/limiter.ts";

const policy: RateLimitPolicy = { limit: 10, windowSeconds: 10 }; // 10 at once, one more every second

/** Runs requests at the given times (ms) and returns which were admitted. */
function timeline(times: number[], limiter = new RateLimiter({ maxBuckets: 10 }), name = "k", rule = policy) {
  return times.map((at) => limiter.take(name, rule, at).allowed);
}

describe("the token bucket timeline", () => {
  test("a new client has the whole burst, then one token per refill interval", () => {
    const admitted = timeline([...Array(12).fill(0), 999, 1000, 1001, 2000]);
    expect(admitted).toEqual([...Array(10).fill(true), false, false, false, true, false, true]);
  });

  test("remaining, full time and Retry-After are exact", () => {
    let bucket: Bucket | undefined;
    for (let index = 0; index < 10; index++) bucket = takeToken(bucket, policy, 0).bucket;
    const refused = takeToken(bucket, policy, 250);
    expect(refused).toMatchObject({ allowed: false, remaining: 0, retryAfterSeconds: 1, fullAtMs: 10_000 });
    const later = takeToken(refused.bucket, policy, 1000);
    expect(later).toMatchObject({ allowed: true, remaining: 0, fullAtMs: 11_000 });
  });

  test("Retry-After is whole seconds, at least 1, and a retry after it is admitted", () => {
    const slow: RateLimitPolicy = { limit: 1, windowSeconds: 7 };
    const first = takeToken(undefined, slow, 0);
    const refused = takeToken(first.bucket, slow, 1);
    expect(refused.retryAfterSeconds).toBe(7);
    expect(takeToken(refused.bucket, slow, 1 + 6_998).allowed).toBe(false);
    expect(takeToken(refused.bucket, slow, 1 + refused.retryAfterSeconds * 1000).allowed).toBe(true);
    const fast: RateLimitPolicy = { limit: 100, windowSeconds: 1 };
    let bucket: Bucket | undefined;
    for (let index = 0; index < 100; index++) bucket = takeToken(bucket, fast, 0).bucket;
    expect(takeToken(bucket, fast, 0).retryAfterSeconds).toBe(1);
  });

  test("an idle bucket refills to the limit and no further", () => {
    expect(timeline([0, ...Array(11).fill(1_000_000)])).toEqual([true, ...Array(10).fill(true), false]);
  });

  test("a clock that steps back never mints tokens", () => {
    expect(timeline([...Array(10).fill(5000), 4000, 4500])).toEqual([...Array(10).fill(true), false, false]);
  });
});

describe("exactness over any interval", () => {
  // Admitted requests in any window [a, b] never exceed limit + rate × (b − a); under overload at least 95% of it.
  function admittedTimes(arrivals: number[], rule: RateLimitPolicy) {
    const limiter = new RateLimiter({ maxBuckets: 10 });
    return arrivals.filter((at) => limiter.take("k", rule, at).allowed);
  }

  function checkBound(admitted: number[], rule: RateLimitPolicy) {
    const rate = rule.limit / (rule.windowSeconds * 1000);
    for (let start = 0; start < admitted.length; start++) {
      for (let end = start; end < admitted.length; end++) {
        const count = end - start + 1;
        const bound = rule.limit + rate * (admitted[end]! - admitted[start]!);
        if (count > bound + 1e-9)
          throw new Error(`${count} admitted in [${admitted[start]}, ${admitted[end]}], bound ${bound}`);
      }
    }
  }

  test("random arrivals never exceed burst + rate × time", () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (const rule of [policy, { limit: 3, windowSeconds: 1 }, { limit: 50, windowSeconds: 60 }]) {
      for (let trial = 0; trial < 20; trial++) {
        let at = 0;
        const arrivals = Array.from({ length: 300 }, () => (at += Math.floor(random() * 400)));
        checkBound(admittedTimes(arrivals, rule), rule);
      }
    }
  });

  test("under overload at least 95% of the bound is admitted", () => {
    const rule: RateLimitPolicy = { limit: 20, windowSeconds: 2 }; // 10/s
    const arrivals = Array.from({ length: 60_000 }, (_, index) => index / 2); // 2000/s for 30 s
    const admitted = admittedTimes(arrivals, rule);
    checkBound(admitted.slice(0, 400), rule);
    const bound = rule.limit + (rule.limit / (rule.windowSeconds * 1000)) * arrivals.at(-1)!;
    expect(admitted.length).toBeLessThanOrEqual(bound);
    expect(admitted.length).toBeGreaterThanOrEqual(0.95 * bound);
  });
});

describe("bounded memory", () => {
  test("eviction never lets a client exceed its limit", () => {
    const rule: RateLimitPolicy = { limit: 5, windowSeconds: 10 };
    const limiter = new RateLimiter({ maxBuckets: 2, evictedSlots: 1024 });
    const admittedA: number[] = [];
    // Client A drains its bucket; many other clients push A out of the two-bucket LRU between each of A's requests.
    for (let at = 0; at < 20_000; at += 100) {
      if (limiter.take("client-a", rule, at).allowed) admittedA.push(at);
      for (let other = 0; other < 3; other++) limiter.take(`client-${at}-${other}`, rule, at);
    }
    expect(limiter.evictions).toBeGreaterThan(100);
    expect(limiter.size).toBeLessThanOrEqual(2);
    const bound = rule.limit + (rule.limit / (rule.windowSeconds * 1000)) * (admittedA.at(-1)! - admittedA[0]!);
    expect(admittedA.length).toBeLessThanOrEqual(bound);
    expect(admittedA.length).toBeGreaterThanOrEqual(rule.limit);
  });

  test("a client never seen before still gets its whole burst when no evicted bucket shares its slot", () => {
    const limiter = new RateLimiter({ maxBuckets: 1 });
    timeline([0, 0, 0], limiter, "busy");
    timeline([0], limiter, "other"); // evicts "busy" while it is not full
    expect(timeline(Array(10).fill(0), limiter, "fresh")).toEqual(Array(10).fill(true));
  });
});

describe("comparing policies (what a key may grant another)", () => {
  const policyArbitrary = fc.record({
    limit: fc.integer({ min: 1, max: 1_000_000 }),
    windowSeconds: fc.integer({ min: 1, max: 86_400 }),
  });

  test("within means no larger a burst and no faster a refill", () => {
    const own = { limit: 20, windowSeconds: 60 };
    expect(isPolicyWithin({ limit: 20, windowSeconds: 60 }, own)).toBe(true);
    expect(isPolicyWithin({ limit: 10, windowSeconds: 30 }, own)).toBe(true);
    expect(isPolicyWithin({ limit: 1, windowSeconds: 86_400 }, own)).toBe(true);
    expect(isPolicyWithin({ limit: 21, windowSeconds: 3600 }, own)).toBe(false);
    expect(isPolicyWithin({ limit: 20, windowSeconds: 59 }, own)).toBe(false);
    expect(isPolicyWithin({ limit: 1_000_000, windowSeconds: 1 }, own)).toBe(false);
  });

  test("the narrower of two policies is within both, and is either one when it is within the other", () => {
    fc.assert(
      fc.property(policyArbitrary, policyArbitrary, (first, second) => {
        const narrower = narrowerPolicy(first, second);
        expect(isPolicyWithin(narrower, first) && isPolicyWithin(narrower, second)).toBe(true);
        expect(narrower.windowSeconds).toBeLessThanOrEqual(86_400);
        expect(narrower.limit).toBe(Math.min(first.limit, second.limit));
        if (isPolicyWithin(first, second)) expect(narrowerPolicy(first, second)).toEqual(first);
      }),
      { numRuns: 2000 },
    );
  });
});
