/**
 * The credential a request acts with, as the domain services see it: which key (or the parent key of a session
 * token), in which project, holding which scopes, with root powers or not. The auth layer establishes it (its
 * Principal is a Caller and more); services only read it, so they never depend on how it was authenticated.
 */
import type { RateLimitPolicy } from "../ratelimit/bucket.ts";

export interface Caller {
  kind: "api_key" | "session";
  /** The API key, or the session token's parent key. */
  keyId: string;
  projectId: string;
  tenantId: string;
  scopes: readonly string[];
  isRoot: boolean;
  /** The root key without X-Project-Id: it reaches every project. With it, only that one (`projectId`). */
  crossProject: boolean;
  /** The key id for a key; the token's `sub` (end user, or the key id on the browser channel) for a session. */
  subject: string;
  /** Identifies which of the key's secrets authenticated, so tokens die when that secret is rotated out. */
  secretVersion: string;
  /**
   * When the credential stops working by itself: the key's expiry or its secret's retirement (a rotation's grace),
   * whichever is sooner, or the token's `exp` if sooner still. Tokens minted from it never outlive it.
   */
  expiresAtMs: number | null;
  /** The bucket it spends (a session spends its parent key's): no key it creates gets a larger one. */
  ratelimit: RateLimitPolicy;
}
