/**
 * Rate-limit response fields: the de-facto X-RateLimit-* trio (Reset in Unix seconds) and the IETF structured
 * fields (draft-ietf-httpapi-ratelimit-headers): `RateLimit-Policy: "key";q=<limit>;w=<window>` and
 * `RateLimit: "key";r=<remaining>;t=<seconds until full>`. A refusal adds Retry-After: whole seconds, at least 1,
 * after which a retry is admitted.
 */
import type { BucketDecision, RateLimitPolicy } from "./bucket.ts";

/** The fields, written into `headers` (a new object when none is given, which is returned either way). */
export function rateLimitHeaders(
  policyName: string,
  policy: RateLimitPolicy,
  decision: BucketDecision,
  nowMilliseconds: number,
  headers: Record<string, string> = {},
): Record<string, string> {
  const secondsUntilFull = Math.max(0, Math.ceil((decision.fullAtMs - nowMilliseconds) / 1000));
  headers["x-ratelimit-limit"] = String(policy.limit);
  headers["x-ratelimit-remaining"] = String(decision.remaining);
  headers["x-ratelimit-reset"] = String(Math.ceil(decision.fullAtMs / 1000));
  headers["ratelimit-policy"] = `"${policyName}";q=${policy.limit};w=${policy.windowSeconds}`;
  headers.ratelimit = `"${policyName}";r=${decision.remaining};t=${secondsUntilFull}`;
  if (!decision.allowed) headers["retry-after"] = String(decision.retryAfterSeconds);
  return headers;
}
