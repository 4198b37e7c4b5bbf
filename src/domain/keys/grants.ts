/**
 * What a credential may hand on when it creates a key (POST /v1/keys, a CLI-login approval) or sets a key's bucket,
 * beside scopes (only those it holds: scopes.ts). The root key is exempt from the first rule; only tokens meet the
 * second.
 *
 * - A bucket within its own: no larger a burst and no faster a refill (403 LIMIT_NOT_GRANTED otherwise), or a key
 *   allowed 20 requests a minute could mint one allowed a million a second. Asked for none, a new key takes the
 *   project's default where that is within its creator's bucket, else the largest bucket within both.
 * - Through a session token, a key that never outlives the token's parent key: it expires no later, and it names
 *   the parent (`parentKeyId`), whose revocation revokes it (service.ts). Otherwise a page's one-hour token, or a
 *   script injected into the page, could turn itself into a permanent secret that outlives everything behind it.
 */
import type { ApiKeyRow } from "../../db/schema.ts";
import { AppError } from "../../lib/errors.ts";
import { isPolicyWithin, narrowerPolicy, type RateLimitPolicy } from "../ratelimit/bucket.ts";
import type { Caller } from "./caller.ts";
import { scopesBeyondGrantor } from "./scopes.ts";

/** The scopes asked for, each once, when the grantor holds every one (403 SCOPE_NOT_GRANTED naming the others). */
export function grantedScopes(caller: Caller, asked: readonly string[]): string[] {
  const scopes = [...new Set(asked)];
  const beyond = scopesBeyondGrantor(caller, scopes);
  if (beyond.length > 0) {
    throw new AppError("SCOPE_NOT_GRANTED", {
      message: "A key can only grant scopes it holds itself.",
      details: beyond.map((scope) => ({ path: `scopes[${asked.indexOf(scope)}]`, message: scope })),
    });
  }
  return scopes;
}

/** A project's default bucket, as a policy. */
export function defaultPolicyOf(project: { ratelimitLimit: number; ratelimitWindowSeconds: number }): RateLimitPolicy {
  return { limit: project.ratelimitLimit, windowSeconds: project.ratelimitWindowSeconds };
}

/**
 * The bucket to store for a key `grantor` creates or changes (null: the project's default), from what was asked: a
 * policy, null for the project's default, or undefined when a new key names none.
 */
export function grantedRateLimit(
  grantor: Caller,
  asked: RateLimitPolicy | null | undefined,
  projectDefault: RateLimitPolicy,
): RateLimitPolicy | null {
  if (grantor.isRoot) return asked ?? null;
  const own = grantor.ratelimit;
  if (asked === undefined) return isPolicyWithin(projectDefault, own) ? null : narrowerPolicy(projectDefault, own);
  if (isPolicyWithin(asked ?? projectDefault, own)) return asked;
  throw limitNotGranted(asked, own);
}

function limitNotGranted(asked: RateLimitPolicy | null, own: RateLimitPolicy): AppError {
  const ownBucket = `the caller's own bucket, ${own.limit} per ${own.windowSeconds} seconds`;
  let detail: { path: string; message: string };
  if (asked === null) {
    detail = { path: "ratelimit", message: `must not be null: the project's default is beyond ${ownBucket}` };
  } else if (asked.limit > own.limit) {
    detail = { path: "ratelimit.limit", message: `must be at most ${own.limit} (${ownBucket})` };
  } else {
    const slowestWindowSeconds = Math.ceil((asked.limit * own.windowSeconds) / own.limit);
    detail = {
      path: "ratelimit.window_seconds",
      message: `must be at least ${slowestWindowSeconds} for this limit (${ownBucket})`,
    };
  }
  return new AppError("LIMIT_NOT_GRANTED", { details: [detail] });
}

export interface Lineage {
  /** The key this one is revoked with: a session token's parent key; null for a key created with a key. */
  parentKeyId: string | null;
  expiresAtMs: number | null;
}

/**
 * Where a new key comes from, and so when it ends at the latest. `parent` is the creator's own key as the creating
 * transaction reads it: one revoked or expired since its token was checked refuses the creation, as the token
 * itself now would be.
 */
export function lineageOf(
  creator: Caller,
  parent: ApiKeyRow | undefined,
  expiresAtMs: number | null,
  nowMilliseconds: number,
): Lineage {
  if (creator.kind !== "session") return { parentKeyId: null, expiresAtMs };
  if (parent === undefined || parent.revokedAtMs !== null) throw new AppError("API_KEY_REVOKED");
  const parentEndsAtMs = parent.expiresAtMs;
  if (parentEndsAtMs !== null && parentEndsAtMs <= nowMilliseconds) throw new AppError("API_KEY_EXPIRED");
  if (parentEndsAtMs === null) return { parentKeyId: parent.id, expiresAtMs };
  return {
    parentKeyId: parent.id,
    expiresAtMs: expiresAtMs === null ? parentEndsAtMs : Math.min(expiresAtMs, parentEndsAtMs),
  };
}
