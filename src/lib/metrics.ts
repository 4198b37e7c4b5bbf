/**
 * Prometheus metrics, kept in memory and rendered as text at /metrics. Labels are route patterns, methods, statuses
 * and catalogue codes only: never ids, keys or anything a client controls, so cardinality stays fixed.
 */
const DURATION_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export interface SharedBucketStats {
  leases: number;
  leasedTokens: number;
  localHits: number;
  redisErrors: number;
  fallbackDecisions: number;
  reachable: boolean;
  nodes: number;
}

export class Metrics {
  private readonly requests = new Map<string, number>();
  private readonly verifications = new Map<string, number>();
  private readonly durationCounts = new Array<number>(DURATION_BUCKETS_SECONDS.length + 1).fill(0);
  private durationSumSeconds = 0;
  private durationCount = 0;
  rateLimited = 0;
  /** Requests answered 503 because the database could not be reached. */
  databaseErrors = 0;
  /** Requests answered by a fast lane (src/api/verify/fast-lane.ts) rather than the full pipeline. */
  fastLaneAnswers = 0;
  /** Which of the processes serving the port this is (0: the primary, or the only one). */
  workerIndex = 0;
  tokenCacheHits = 0;
  tokenCacheMisses = 0;

  recordRequest(route: string, method: string, status: number, durationSeconds: number): void {
    const key = `${route} ${method} ${status}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    let bucket = 0;
    while (bucket < DURATION_BUCKETS_SECONDS.length && durationSeconds > DURATION_BUCKETS_SECONDS[bucket]!) bucket++;
    this.durationCounts[bucket]!++;
    this.durationSumSeconds += durationSeconds;
    this.durationCount++;
  }

  recordVerification(code: string): void {
    this.verifications.set(code, (this.verifications.get(code) ?? 0) + 1);
  }

  render(gauges: {
    keyCacheHits: number;
    keyCacheMisses: number;
    keyCacheEntries: number;
    buckets: number;
    pendingUsage: number;
    /** Seconds since this node was last confirmed in sync with the change log, and whether it is now. */
    syncLagSeconds: number;
    inSync: boolean;
    /** Present when buckets are shared through Redis. */
    sharedBuckets?: SharedBucketStats;
  }): string {
    const lines: string[] = [];
    const family = (name: string, type: string, help: string) =>
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    family("latchkey_http_requests_total", "counter", "HTTP requests by route pattern, method and status.");
    for (const [key, count] of this.requests) {
      const [route, method, status] = key.split(" ");
      lines.push(`latchkey_http_requests_total{route="${route}",method="${method}",status="${status}"} ${count}`);
    }
    family("latchkey_http_request_duration_seconds", "histogram", "Time from request to response.");
    let cumulative = 0;
    DURATION_BUCKETS_SECONDS.forEach((bound, index) => {
      cumulative += this.durationCounts[index]!;
      lines.push(`latchkey_http_request_duration_seconds_bucket{le="${bound}"} ${cumulative}`);
    });
    lines.push(`latchkey_http_request_duration_seconds_bucket{le="+Inf"} ${this.durationCount}`);
    lines.push(`latchkey_http_request_duration_seconds_sum ${this.durationSumSeconds}`);
    lines.push(`latchkey_http_request_duration_seconds_count ${this.durationCount}`);
    family("latchkey_verifications_total", "counter", "Outcomes of /v1/keys/verify and /v1/authz by code.");
    for (const [code, count] of this.verifications) lines.push(`latchkey_verifications_total{code="${code}"} ${count}`);
    family("latchkey_rate_limited_total", "counter", "Requests refused with 429.");
    lines.push(`latchkey_rate_limited_total ${this.rateLimited}`);
    family("latchkey_cache_hits_total", "counter", "Lookups answered from memory.");
    lines.push(`latchkey_cache_hits_total{cache="keys"} ${gauges.keyCacheHits}`);
    lines.push(`latchkey_cache_hits_total{cache="tokens"} ${this.tokenCacheHits}`);
    family(
      "latchkey_cache_misses_total",
      "counter",
      "Lookups that went to the database (keys) or the signature check (tokens).",
    );
    lines.push(`latchkey_cache_misses_total{cache="keys"} ${gauges.keyCacheMisses}`);
    lines.push(`latchkey_cache_misses_total{cache="tokens"} ${this.tokenCacheMisses}`);
    family("latchkey_key_cache_entries", "gauge", "Keys held in memory.");
    lines.push(`latchkey_key_cache_entries ${gauges.keyCacheEntries}`);
    family("latchkey_ratelimit_buckets", "gauge", "Rate-limit buckets held in memory.");
    lines.push(`latchkey_ratelimit_buckets ${gauges.buckets}`);
    family("latchkey_usage_pending_keys", "gauge", "Keys whose usage waits for the next flush.");
    lines.push(`latchkey_usage_pending_keys ${gauges.pendingUsage}`);
    family(
      "latchkey_sync_lag_seconds",
      "gauge",
      "Time since this node was last confirmed in sync with the change log.",
    );
    lines.push(`latchkey_sync_lag_seconds ${gauges.syncLagSeconds.toFixed(3)}`);
    family("latchkey_in_sync", "gauge", "1 while caches may answer; 0 while every decision reads the database.");
    lines.push(`latchkey_in_sync ${gauges.inSync ? 1 : 0}`);
    family("latchkey_database_errors_total", "counter", "Requests answered 503 because the database was unreachable.");
    lines.push(`latchkey_database_errors_total ${this.databaseErrors}`);
    family("latchkey_fast_lane_answers_total", "counter", "Warm, allowed checks answered without the full pipeline.");
    lines.push(`latchkey_fast_lane_answers_total ${this.fastLaneAnswers}`);
    family("latchkey_worker_index", "gauge", "Which of the processes serving the port answered (0: the primary).");
    lines.push(`latchkey_worker_index ${this.workerIndex}`);
    const shared = gauges.sharedBuckets;
    if (shared) {
      const counter = (name: string, help: string, value: number) => {
        family(name, "counter", help);
        lines.push(`${name} ${value}`);
      };
      counter("latchkey_redis_errors_total", "Redis calls that failed or missed their deadline.", shared.redisErrors);
      counter("latchkey_redis_leases_total", "Token leases taken from shared buckets.", shared.leases);
      counter("latchkey_redis_leased_tokens_total", "Tokens those leases took.", shared.leasedTokens);
      counter("latchkey_ratelimit_lease_hits_total", "Rate-limit decisions answered from a lease.", shared.localHits);
      counter(
        "latchkey_ratelimit_fallback_decisions_total",
        "Rate-limit decisions made locally while Redis was unreachable.",
        shared.fallbackDecisions,
      );
      family("latchkey_redis_reachable", "gauge", "1 while Redis answers; 0 while buckets fall back to local shares.");
      lines.push(`latchkey_redis_reachable ${shared.reachable ? 1 : 0}`);
      family("latchkey_nodes", "gauge", "Nodes seen sharing the buckets in the last seconds.");
      lines.push(`latchkey_nodes ${shared.nodes}`);
    }
    return `${lines.join("\n")}\n`;
  }
}
