/**
 * Who is calling, once credentials are checked: an API key (possibly the root key), or a session token minted from
 * one. A session acts within its parent key's project with the token's scopes, never with root powers.
 */
import type { ApiKeyRow, ProjectRow } from "../db/schema.ts";
import type { Caller } from "../domain/keys/caller.ts";
import { defaultPolicyOf } from "../domain/keys/grants.ts";
import type { RateLimitPolicy } from "../domain/ratelimit/bucket.ts";
import type { AppError } from "../lib/errors.ts";

export interface Principal extends Caller {
  /** The end user the key acts for, if it has one. */
  owner: string | null;
  /** The key's metadata (a session token's: its parent key's), as the host app stored it; null for none. */
  meta: Record<string, unknown> | null;
  /** The browser origin a session token is bound to. */
  origin: string | null;
  /** The session token's `jti` (null for an API key). */
  tokenId: string | null;
}

/**
 * Who the credential stands for, or the refusal: what the auth core returns (it throws nothing of its own; the HTTP
 * edge turns a refusal into an answer). A refusal that comes after the credential was identified (revoked, scopes,
 * …) names the principal it would have been, so verification can say whose credential it refused.
 */
export type Authentication =
  | { principal: Principal; refusal: null }
  | { principal: Principal | null; refusal: AppError };

/** A refusal, naming the principal it would have been when the credential was identified. */
export function refused(refusal: AppError, principal: Principal | null = null): Authentication {
  return { principal, refusal };
}

/**
 * The root key's bucket: fixed, generous, and out of reach of every setting, so that no project default and no key
 * override can lock the operator out (it is also exempt from tenant status and modules).
 */
export const ROOT_KEY_RATE_LIMIT: RateLimitPolicy = { limit: 100_000, windowSeconds: 60 };

/** The bucket a principal spends: the root key's fixed one, else its key's override, else its project's default. */
export function rateLimitPolicyOf(key: ApiKeyRow, project: ProjectRow): RateLimitPolicy {
  if (key.isRoot) return ROOT_KEY_RATE_LIMIT;
  return key.ratelimitLimit !== null && key.ratelimitWindowSeconds !== null
    ? { limit: key.ratelimitLimit, windowSeconds: key.ratelimitWindowSeconds }
    : defaultPolicyOf(project);
}

/** A short, non-reversible tag of one secret of a key (the first 16 hex digits of its SHA-256). */
export function secretVersionOf(secretHash: string): string {
  return secretHash.slice(0, 16);
}
