/**
 * Changing a key in place: its name, bucket, whether it is enabled and its metadata (PATCH), or its secret (rotate).
 * Both act on everything the key can do, so the caller must hold every scope of the key; both are audited and
 * announced on the change log, so every node applies them on its next request.
 */
import type { ApiKeyRow } from "../../db/schema.ts";
import type { Executor } from "../../db/storage.ts";
import { AppError } from "../../lib/errors.ts";
import type { AuditActor } from "../audit/service.ts";
import { recordProjectEvent } from "../audit/service.ts";
import type { RateLimitPolicy } from "../ratelimit/bucket.ts";
import type { Caller } from "./caller.ts";
import { defaultPolicyOf, grantedRateLimit, grantedScopes } from "./grants.ts";
import { generateSecret, hashSecret, secretHint } from "./secret.ts";
import type { IssuedKey, KeysDeps } from "./service.ts";
import * as store from "./store.ts";
import { keyTarget, projectOf, requireEveryScopeOf, visibleKeyOrThrow } from "./visibility.ts";

export interface KeyUpdate {
  name?: string;
  /** Replaces the scopes: each must be held by the caller. */
  scopes?: string[];
  /** null: the end user is no longer named. */
  owner?: string | null;
  /** A moment in the future, or null for never (within the key's parent and a token caller's, see lifetimeOf). */
  expiresAtMs?: number | null;
  /** A policy of its own, or null to go back to the project's default. */
  ratelimit?: RateLimitPolicy | null;
  enabled?: boolean;
  /** Replaces the metadata; null removes it. */
  meta?: Record<string, unknown> | null;
  /** Replaces the allowlist; null lets the key be used from any address again. */
  ipAllowlist?: string[] | null;
}

export async function updateKey(
  deps: KeysDeps,
  caller: Caller,
  actor: AuditActor,
  keyId: string,
  update: KeyUpdate,
  nowMilliseconds: number,
): Promise<ApiKeyRow> {
  return deps.storage.writeTransaction(async (tx) => {
    const key = visibleKeyOrThrow(await store.findKey(tx, keyId), caller);
    requireEveryScopeOf(caller, key, "Changing a key needs every scope the key holds.");
    if (key.revokedAtMs !== null) throw new AppError("CONFLICT", { message: "A revoked key cannot be changed." });
    if (key.isRoot) refuseRootKeyChanges(update);
    const changes: store.KeyChanges = {};
    if (update.name !== undefined) changes.name = update.name;
    if (update.owner !== undefined) changes.owner = update.owner;
    if (update.scopes !== undefined) changes.scopes = grantedScopes(caller, update.scopes);
    if (update.expiresAtMs !== undefined) {
      changes.expiresAtMs = await lifetimeOf(tx, caller, key, update.expiresAtMs, nowMilliseconds);
    }
    if (update.enabled !== undefined) changes.enabled = update.enabled;
    if (update.meta !== undefined) changes.meta = update.meta;
    if (update.ipAllowlist !== undefined) changes.ipAllowlist = update.ipAllowlist;
    if (update.ratelimit !== undefined) {
      const project = (await store.findKeyProject(tx, key.projectId))!;
      const ratelimit = grantedRateLimit(caller, update.ratelimit, defaultPolicyOf(project));
      changes.ratelimitLimit = ratelimit?.limit ?? null;
      changes.ratelimitWindowSeconds = ratelimit?.windowSeconds ?? null;
    }
    const updated = await store.updateKey(tx, keyId, changes, nowMilliseconds);
    await deps.changeLog.record(tx, "api_key", keyId, nowMilliseconds);
    await recordProjectEvent(tx, actor, "key.updated", keyTarget(key), await projectOf(tx, key), nowMilliseconds, {
      before: auditedFieldsOf(key),
      after: auditedFieldsOf(updated),
    });
    return updated;
  });
}

/**
 * The root key holds everything, for ever, at a fixed bucket, so that no change can lock the operator out: its
 * scopes, expiry and bucket cannot be set, and it cannot be disabled (409, naming the field).
 */
function refuseRootKeyChanges(update: KeyUpdate): void {
  const fixed = [
    update.scopes !== undefined && { path: "scopes", message: "cannot be set on the root key: it holds every scope" },
    update.expiresAtMs !== undefined && { path: "expires_at", message: "cannot be set on the root key" },
    update.ratelimit !== undefined && { path: "ratelimit", message: "cannot be set on the root key" },
    update.enabled === false && { path: "enabled", message: "cannot be false on the root key" },
    update.ipAllowlist != null && { path: "ip_allowlist", message: "cannot be set on the root key" },
  ].filter((detail) => detail !== false);
  if (fixed.length > 0) {
    throw new AppError("CONFLICT", {
      message: "The root key cannot be limited, so that the operator is never locked out; rotate it instead.",
      details: fixed,
    });
  }
}

/**
 * A new expiry: in the future (400 otherwise), and, as on create, never later than the key's parent's (a key made
 * through a session token never outlives the token's parent) nor than the caller's own key when a token changes it.
 */
async function lifetimeOf(
  tx: Executor,
  caller: Caller,
  key: ApiKeyRow,
  askedMs: number | null,
  nowMilliseconds: number,
): Promise<number | null> {
  if (askedMs !== null && askedMs <= nowMilliseconds) {
    throw new AppError("VALIDATION_FAILED", { details: [{ path: "expires_at", message: "must be in the future" }] });
  }
  const bounds = [key.parentKeyId, caller.kind === "session" ? caller.keyId : null];
  let endsAtMs = askedMs ?? Number.POSITIVE_INFINITY;
  for (const boundingKeyId of bounds) {
    if (boundingKeyId === null) continue;
    const bounding = await store.findKey(tx, boundingKeyId);
    endsAtMs = Math.min(endsAtMs, bounding?.expiresAtMs ?? Number.POSITIVE_INFINITY);
  }
  return endsAtMs === Number.POSITIVE_INFINITY ? null : endsAtMs;
}

export interface RotatedKey extends IssuedKey {
  previousSecretRetiresAtMs: number;
}

export async function rotateKey(
  deps: KeysDeps,
  caller: Caller,
  actor: AuditActor,
  keyId: string,
  graceSeconds: number,
  nowMilliseconds: number,
): Promise<RotatedKey> {
  return deps.storage.writeTransaction(async (tx) => {
    const key = visibleKeyOrThrow(await store.findKey(tx, keyId), caller);
    requireEveryScopeOf(
      caller,
      key,
      "Rotating a key hands out its secret, so the caller must hold every scope of the key.",
    );
    if (key.revokedAtMs !== null) throw new AppError("CONFLICT", { message: "A revoked key cannot be rotated." });
    if (key.expiresAtMs !== null && key.expiresAtMs <= nowMilliseconds) {
      throw new AppError("CONFLICT", { message: "An expired key cannot be rotated." });
    }
    const secret = generateSecret(secretPrefixOf(key.hint));
    const previousSecretRetiresAtMs = nowMilliseconds + graceSeconds * 1000;
    await store.retireLiveSecrets(tx, keyId, previousSecretRetiresAtMs, nowMilliseconds);
    await deps.changeLog.record(tx, "api_key", keyId, nowMilliseconds);
    const rotated = await store.addSecretAndHint(
      tx,
      { hash: hashSecret(secret), keyId, createdAtMs: nowMilliseconds, retiresAtMs: null },
      secretHint(secret),
    );
    await recordProjectEvent(tx, actor, "key.rotated", keyTarget(key), await projectOf(tx, key), nowMilliseconds, {
      grace_seconds: graceSeconds,
      previous_secret_retires_at_ms: previousSecretRetiresAtMs,
    });
    return { key: rotated, secret, previousSecretRetiresAtMs };
  });
}

/** What a key.updated event records of the key before and after. */
function auditedFieldsOf(key: ApiKeyRow) {
  return {
    name: key.name,
    scopes: key.scopes,
    owner: key.owner,
    expires_at_ms: key.expiresAtMs,
    ratelimit_limit: key.ratelimitLimit,
    ratelimit_window_seconds: key.ratelimitWindowSeconds,
    enabled: key.enabled,
    meta: key.meta,
    ip_allowlist: key.ipAllowlist,
  };
}

/** A key keeps the prefix it was created with across rotations, even if its project's prefix changed since. */
function secretPrefixOf(hint: string): string {
  return hint.slice(0, hint.indexOf("..."));
}
