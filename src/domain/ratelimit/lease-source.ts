/**
 * Where a node (or a worker process) leases tokens of shared buckets from: Redis for several nodes
 * (redis-source.ts), or the primary process for the workers of one node (workers.ts, with LocalLeaseSource below
 * for the primary itself). SharedRateLimiter (shared.ts) does the rest the same way for both.
 */
import type { LeaseResult, RateLimitPolicy } from "./bucket.ts";
import type { RateLimiter } from "./limiter.ts";

export type { LeaseResult } from "./bucket.ts";

export interface LeaseSource {
  /** For logs: "redis", "the primary process". */
  readonly name: string;
  /** How long a lease or heartbeat may take before the node stops waiting for it. */
  readonly deadlineMilliseconds: number;
  /**
   * What a node does when a lease did not come in time. "share": admits alone from a bucket of `limit / live nodes`
   * (Redis: an outage must not stop every node; the total stays near the limit). "refuse": answers 429 with
   * Retry-After until the source answers again (the primary of one host's workers: it is alive unless the worker is
   * stopping, so a late answer means it is busy, and exactness is the promise).
   */
  readonly whenUnanswered: "share" | "refuse";
  /** Takes up to `want` tokens of the shared bucket `name` (full when new), at the caller's time. */
  lease(name: string, policy: RateLimitPolicy, want: number, nowMilliseconds: number): Promise<LeaseResult>;
  /** Registers this node as live and answers how many are. */
  beat(nodeId: string): Promise<number>;
  /** After failures: ask the connection to come back (a no-op where there is nothing to reconnect). */
  reconnect(): void;
  close(): Promise<void>;
}

/** How long a node that stopped beating still counts as live. */
export const NODE_LIVENESS_MILLISECONDS = 5_000;

/** The nodes seen beating recently, for a source that keeps them in memory. */
export class LiveNodes {
  private readonly seenAt = new Map<string, number>();

  beat(nodeId: string, nowMilliseconds: number): number {
    this.seenAt.set(nodeId, nowMilliseconds);
    for (const [node, seen] of this.seenAt) {
      if (nowMilliseconds - seen > NODE_LIVENESS_MILLISECONDS) this.seenAt.delete(node);
    }
    return this.seenAt.size;
  }
}

/** The authority itself, in this process: the primary's own limiter leases from it without a round trip. */
export class LocalLeaseSource implements LeaseSource {
  readonly name = "this process";
  readonly deadlineMilliseconds = 1_000;
  readonly whenUnanswered = "refuse";

  constructor(
    private readonly authority: RateLimiter,
    private readonly nodes: LiveNodes,
  ) {}

  async lease(name: string, policy: RateLimitPolicy, want: number, nowMilliseconds: number): Promise<LeaseResult> {
    return this.authority.lease(name, policy, want, nowMilliseconds);
  }

  async beat(nodeId: string): Promise<number> {
    return this.nodes.beat(nodeId, Date.now());
  }

  reconnect(): void {}

  async close(): Promise<void> {}
}
