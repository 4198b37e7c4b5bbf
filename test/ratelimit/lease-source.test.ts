/**
 * Leasing from one authority in memory (src/domain/ratelimit/lease-source.ts), the design the workers of one host use
 * (src/app/workers.ts carries the same calls over IPC): several limiters, one bucket, never more than it holds — even
 * when the authority answers late.
 */
import { describe, expect, test } from "bun:test";
import type { RateLimitPolicy } from "../../src/domain/ratelimit/bucket.ts";
import {
  type LeaseResult,
  type LeaseSource,
  LiveNodes,
  LocalLeaseSource,
} from "../../src/domain/ratelimit/lease-source.ts";
import { RateLimiter } from "../../src/domain/ratelimit/limiter.ts";
import { SharedRateLimiter } from "../../src/domain/ratelimit/shared.ts";
import { createLogger } from "../../src/lib/logger.ts";

const admitted = (decisions: { allowed: boolean }[]) => decisions.filter((decision) => decision.allowed).length;

/** The authority, answering every lease and heartbeat `delayMs` late, deciding as `whenUnanswered` says. */
class LateSource implements LeaseSource {
  readonly name = "a late authority";
  readonly deadlineMilliseconds = 20;
  delayMs = 0;

  constructor(
    private readonly inner: LocalLeaseSource,
    readonly whenUnanswered: "share" | "refuse",
  ) {}

  async lease(name: string, policy: RateLimitPolicy, want: number, nowMilliseconds: number): Promise<LeaseResult> {
    await Bun.sleep(this.delayMs);
    return this.inner.lease(name, policy, want, nowMilliseconds);
  }

  async beat(nodeId: string): Promise<number> {
    await Bun.sleep(this.delayMs);
    return this.inner.beat(nodeId);
  }

  reconnect(): void {}

  async close(): Promise<void> {}
}

/** A shared authority (as Redis is) that can go away at once, with a fixed count of live nodes. */
class LosableSource implements LeaseSource {
  readonly name = "a losable authority";
  readonly deadlineMilliseconds = 20;
  readonly whenUnanswered = "share";
  down = false;
  private readonly inner = new LocalLeaseSource(new RateLimiter({ maxBuckets: 1000 }), new LiveNodes());

  constructor(private readonly liveNodes: number) {}

  async lease(name: string, policy: RateLimitPolicy, want: number, nowMilliseconds: number): Promise<LeaseResult> {
    if (this.down) throw new Error("connection refused");
    return this.inner.lease(name, policy, want, nowMilliseconds);
  }

  async beat(): Promise<number> {
    if (this.down) throw new Error("connection refused");
    return this.liveNodes;
  }

  reconnect(): void {}

  async close(): Promise<void> {}
}

describe("an authority that goes away (as Redis may)", () => {
  const policy: RateLimitPolicy = { limit: 30, windowSeconds: 3600 };
  const nodes = async (source: LosableSource) =>
    Promise.all([0, 1, 2].map(() => SharedRateLimiter.start(source, createLogger("silent"))));

  for (const spending of ["spread over the nodes", "all on one node"] as const) {
    test(`regression: what was spent before the outage stays spent (${spending})`, async () => {
      const source = new LosableSource(3);
      const limiters = await nodes(source);
      const before = [];
      for (let index = 0; index < 14; index++) {
        const limiter = limiters[spending === "all on one node" ? 0 : index % 3]!;
        before.push(await limiter.take("spent", policy, 1_000 + index));
      }
      expect(admitted(before)).toBe(14);
      // Each node's share is 10; tokens a node leased beyond it are the most an outage can add to what was left.
      const beyondShares = limiters.reduce((sum, limiter) => sum + Math.max(0, limiter.counters.leasedTokens - 10), 0);
      source.down = true;
      const during = await Promise.all(
        Array.from({ length: 150 }, (_, index) => limiters[index % 3]!.take("spent", policy, 2_000)),
      );
      expect(limiters.every((limiter) => !limiter.reachable)).toBe(true);
      expect(14 + admitted(during)).toBeLessThanOrEqual(policy.limit + beyondShares);
      if (spending === "spread over the nodes") expect(14 + admitted(during)).toBeLessThanOrEqual(policy.limit);
      // Refill during the outage is each node's share of the rate: three nodes, 30 an hour between them.
      const later = await Promise.all(
        Array.from({ length: 150 }, (_, index) => limiters[index % 3]!.take("spent", policy, 2_000 + 3_600_000)),
      );
      expect(admitted(later)).toBeLessThanOrEqual(policy.limit);
      for (const limiter of limiters) await limiter.close();
    });
  }
});

describe("leases from one authority in memory", () => {
  const policy: RateLimitPolicy = { limit: 100, windowSeconds: 3600 };

  test("four limiters on one bucket admit exactly its size between them, concurrently", async () => {
    const source = new LocalLeaseSource(new RateLimiter({ maxBuckets: 1000 }), new LiveNodes());
    const limiters = await Promise.all(
      Array.from({ length: 4 }, () => SharedRateLimiter.start(source, createLogger("silent"))),
    );
    const burst = await Promise.all(
      Array.from({ length: 400 }, (_, index) => limiters[index % 4]!.take("shared", policy, 1_000)),
    );
    const after = [];
    for (let index = 0; index < 200; index++) after.push(await limiters[index % 4]!.take("shared", policy, 1_000));
    expect(admitted(burst)).toBeLessThanOrEqual(100);
    expect(admitted(burst) + admitted(after)).toBe(100);
    for (const limiter of limiters) await limiter.close();
  });

  test("regression: requests that read the clock before a lease came pass while the bucket has room", async () => {
    const limiter = await SharedRateLimiter.start(
      new LocalLeaseSource(new RateLimiter({ maxBuckets: 1000 }), new LiveNodes()),
      createLogger("silent"),
    );
    const roomy: RateLimitPolicy = { limit: 1000, windowSeconds: 60 };
    for (let trial = 0; trial < 20; trial++) {
      // The request that asks for the lease read the clock last; the other 399 began earlier (a cold credential
      // lookup, a slow body) and find its tokens spent by the ones before them.
      const name = `early-${trial}`;
      const decisions = await Promise.all([
        limiter.take(name, roomy, 2_000),
        ...Array.from({ length: 399 }, (_, index) => limiter.take(name, roomy, 1_000 + index)),
      ]);
      expect(admitted(decisions)).toBe(400);
    }
    await limiter.close();
  });

  test("regression: an authority that answers late makes a worker refuse, never admit a share of its own", async () => {
    const source = new LateSource(
      new LocalLeaseSource(new RateLimiter({ maxBuckets: 1000 }), new LiveNodes()),
      "refuse",
    );
    const [first, second] = [
      await SharedRateLimiter.start(source, createLogger("silent")),
      await SharedRateLimiter.start(source, createLogger("silent")),
    ];
    // Half the bucket spent while the authority answers in time.
    for (let index = 0; index < 50; index++) expect((await first.take("late", policy, 1_000)).allowed).toBe(true);
    source.delayMs = 60;
    const late = await Promise.all(Array.from({ length: 100 }, () => second.take("late", policy, 1_000)));
    expect(admitted(late)).toBe(0);
    expect(late[0]!.retryAfterSeconds).toBe(1);
    source.delayMs = 0;
    await Bun.sleep(80);
    // On time again: what is left of the bucket, the tokens that late leases took included, and no more.
    const after = [];
    for (let index = 0; index < 200; index++)
      after.push(await (index % 2 ? first : second).take("late", policy, 1_000));
    expect(50 + admitted(after)).toBeLessThanOrEqual(100);
    expect(admitted(after)).toBeGreaterThan(0);
    await first.close();
    await second.close();
  });

  test("a source that shares (Redis) admits a share of the limit alone when its answers are late", async () => {
    const source = new LateSource(
      new LocalLeaseSource(new RateLimiter({ maxBuckets: 1000 }), new LiveNodes()),
      "share",
    );
    const limiter = await SharedRateLimiter.start(source, createLogger("silent"));
    source.delayMs = 60;
    const late = await Promise.all(Array.from({ length: 150 }, () => limiter.take("shared-late", policy, 1_000)));
    // One live node: its share is the whole limit.
    expect(admitted(late)).toBe(100);
    await limiter.close();
  });
});
