/**
 * Rate-limit response fields: the de-facto X-RateLimit-* trio (Reset in Unix seconds) and the IETF structured
 * fields (draft-ietf-httpapi-ratelimit-headers): `RateLimit-Policy: "key";q=<limit>;w=<window>` and
 * `RateLimit: "key";r=<remaining>;t=<seconds until full>`. A refusal adds Retry-After: whole seconds, at least 1,
 * after which a retry is admitted.
 *
 * Two of them depend on the policy alone and the rest on each decision, so the fast lanes build the first once per
 * credential and write only the second per request (into a Headers copied from that template).
 */
import type { BucketDecision, RateLimitPolicy } from "./bucket.ts";
import type { BucketKind } from "./buckets.ts";

/** A plain record of header fields (the pipeline's), or a Headers (the fast lanes'). */
export type HeaderFields = Record<string, string> | Headers;

/** All the fields, written into `headers` (a new object when none is given, which is returned either way). */
export function rateLimitHeaders(
  policyName: BucketKind,
  policy: RateLimitPolicy,
  decision: BucketDecision,
  nowMilliseconds: number,
  headers: Record<string, string> = {},
): Record<string, string> {
  rateLimitPolicyHeaders(policyName, policy, headers);
  rateLimitDecisionHeaders(policyName, decision, nowMilliseconds, headers);
  return headers;
}

/** The fields fixed by the policy: the same on every answer under it. */
export function rateLimitPolicyHeaders(
  policyName: BucketKind,
  policy: RateLimitPolicy,
  headers: Record<string, string> = {},
): Record<string, string> {
  headers["x-ratelimit-limit"] = String(policy.limit);
  headers["ratelimit-policy"] = `"${policyName}";q=${policy.limit};w=${policy.windowSeconds}`;
  return headers;
}

/** The fields that move with each decision. */
export function rateLimitDecisionHeaders(
  policyName: BucketKind,
  decision: BucketDecision,
  nowMilliseconds: number,
  headers: HeaderFields,
): void {
  const secondsUntilFull = Math.max(0, Math.ceil((decision.fullAtMs - nowMilliseconds) / 1000));
  put(headers, "x-ratelimit-remaining", String(decision.remaining));
  put(headers, "x-ratelimit-reset", String(Math.ceil(decision.fullAtMs / 1000)));
  put(headers, "ratelimit", `"${policyName}";r=${decision.remaining};t=${secondsUntilFull}`);
  if (!decision.allowed) put(headers, "retry-after", String(decision.retryAfterSeconds));
}

function put(headers: HeaderFields, name: string, value: string): void {
  if (headers instanceof Headers) headers.set(name, value);
  else headers[name] = value;
}
