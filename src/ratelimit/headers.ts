/**
 * Rate-limit response fields: the de-facto X-RateLimit-* trio (Reset in Unix seconds) and the IETF structured
 * fields (draft-ietf-httpapi-ratelimit-headers): `RateLimit-Policy: "key";q=<limit>;w=<window>` and
 * `RateLimit: "key";r=<remaining>;t=<seconds until full>`. A refusal adds Retry-After: whole seconds, at least 1,
 * after which a retry is admitted.
 */
import type { BucketDecision, RateLimitPolicy } from "./bucket.ts";

export function rateLimitHeaders(
  policyName: string,
  policy: RateLimitPolicy,
  decision: BucketDecision,
  nowMilliseconds: number,
): Record<string, string> {
  const secondsUntilFull = Math.max(0, Math.ceil((decision.fullAtMs - nowMilliseconds) / 1000));
  const headers: Record<string, string> = {
    "x-ratelimit-limit": String(policy.limit),
    "x-ratelimit-remaining": String(decision.remaining),
    "x-ratelimit-reset": String(Math.ceil(decision.fullAtMs / 1000)),
    "ratelimit-policy": `"${policyName}";q=${policy.limit};w=${policy.windowSeconds}`,
    ratelimit: `"${policyName}";r=${decision.remaining};t=${secondsUntilFull}`,
  };
  if (!decision.allowed) headers["retry-after"] = String(decision.retryAfterSeconds);
  return headers;
}
