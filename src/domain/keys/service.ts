/**
 * API keys: project-scoped credentials with an explicit scope list.
 *
 * - Created with a secret that is returned once; only sha256(secret) and a display hint are kept.
 * - Revocation is immediate and final; revoking twice answers the same. The root key cannot be revoked (only rotated),
 *   so an installation can never lock its operator out. Revoking a key revokes the keys created through its session
 *   tokens (and theirs), each audited and announced on the change log like any revocation.
 * - A creator hands on no more than it holds: scopes, bucket, and through a token, lifetime (grants.ts).
 * - Rotation gives the same key id a new secret; the old one keeps working for `graceSeconds`, then is refused as
 *   revoked. Rotating hands out a working secret, so it needs every scope the key holds (no escalation by rotation).
 * - Visibility: a key sees keys of its own project only, never the root key; another project's key is "not found".
 */

import type { ChangeRecorder } from "../../db/change-recorder.ts";
import type { ApiKeyRow } from "../../db/schema.ts";
import type { Executor, Storage } from "../../db/storage.ts";
import { AppError } from "../../lib/errors.ts";
import { newId } from "../../lib/ids.ts";
import { type Page, pageOf } from "../../lib/pagination.ts";
import { type AuditActor, recordProjectEvent } from "../audit/service.ts";
import type { RateLimitPolicy } from "../ratelimit/bucket.ts";
import type { Caller } from "./caller.ts";
import { defaultPolicyOf, grantedRateLimit, grantedScopes, lineageOf } from "./grants.ts";
import { generateSecret, hashSecret, isWellFormedSecret, secretHint } from "./secret.ts";
import * as store from "./store.ts";
import { keyTarget, projectOf, visibleKeyOrThrow } from "./visibility.ts";

export interface KeysDeps {
  storage: Storage;
  changeLog: ChangeRecorder;
}

export interface NewKey {
  name: string;
  scopes: string[];
  expiresAtMs?: number;
  projectId?: string;
  owner?: string;
  ratelimit?: RateLimitPolicy;
  enabled?: boolean;
  meta?: Record<string, unknown>;
  ipAllowlist?: string[];
}

export interface IssuedKey {
  key: ApiKeyRow;
  secret: string;
}

export const ROTATION_GRACE_SECONDS_MAX = 30 * 24 * 60 * 60;

export async function createKey(
  deps: KeysDeps,
  caller: Caller,
  actor: AuditActor,
  input: NewKey,
  nowMilliseconds: number,
): Promise<IssuedKey> {
  const projectId = input.projectId ?? caller.projectId;
  if (projectId !== caller.projectId && !caller.crossProject) throw projectNotFound();
  if (input.expiresAtMs !== undefined && input.expiresAtMs <= nowMilliseconds) {
    throw new AppError("VALIDATION_FAILED", { details: [{ path: "expires_at", message: "must be in the future" }] });
  }
  const scopes = grantedScopes(caller, input.scopes);
  return deps.storage.writeTransaction(async (tx) => {
    const project = await store.findKeyProject(tx, projectId);
    if (!project) throw projectNotFound();
    const ratelimit = grantedRateLimit(caller, input.ratelimit, defaultPolicyOf(project));
    const parent = caller.kind === "session" ? await store.findKey(tx, caller.keyId) : undefined;
    const lineage = lineageOf(caller, parent, input.expiresAtMs ?? null, nowMilliseconds);
    const secret = generateSecret(project.keyPrefix);
    const key = await insertNewKey(
      tx,
      actor,
      {
        projectId,
        tenantId: project.tenantId,
        name: input.name,
        scopes,
        owner: input.owner ?? null,
        expiresAtMs: lineage.expiresAtMs,
        isRoot: false,
        enabled: input.enabled ?? true,
        meta: input.meta ?? null,
        ipAllowlist: input.ipAllowlist ?? null,
        ratelimit,
        parentKeyId: lineage.parentKeyId,
      },
      secret,
      nowMilliseconds,
    );
    return { key, secret };
  });
}

export interface KeyFields {
  projectId: string;
  tenantId: string;
  name: string;
  scopes: string[];
  owner: string | null;
  expiresAtMs: number | null;
  isRoot: boolean;
  enabled: boolean;
  meta: Record<string, unknown> | null;
  ipAllowlist: string[] | null;
  ratelimit: RateLimitPolicy | null;
  /** The session token's parent key, when a token created this one (see grants.ts). */
  parentKeyId: string | null;
}

/**
 * Stores a new key under `secret` (only its hash) with its audit event, inside the caller's transaction. Every key
 * comes into being here: through the API, at first start (the root key), and on CLI-login approval. The project is
 * read in the same transaction, so a key never lands in a project deleted meanwhile (on PostgreSQL the two
 * serializable transactions cannot both commit).
 */
export async function insertNewKey(
  executor: Executor,
  actor: AuditActor,
  fields: KeyFields,
  secret: string,
  nowMilliseconds: number,
): Promise<ApiKeyRow> {
  const project = await store.findKeyProject(executor, fields.projectId);
  if (!project) throw projectNotFound();
  if (project.deletedAtMs !== null) {
    throw new AppError("CONFLICT", {
      message: "The project was deleted: it takes no new keys.",
      details: [{ path: "project_id", message: "names a deleted project" }],
    });
  }
  const key: ApiKeyRow = {
    id: newId("apiKey", nowMilliseconds),
    projectId: fields.projectId,
    name: fields.name,
    scopes: fields.scopes,
    owner: fields.owner,
    isRoot: fields.isRoot,
    hint: secretHint(secret),
    expiresAtMs: fields.expiresAtMs,
    revokedAtMs: null,
    ratelimitLimit: fields.ratelimit?.limit ?? null,
    ratelimitWindowSeconds: fields.ratelimit?.windowSeconds ?? null,
    enabled: fields.enabled,
    meta: fields.meta,
    ipAllowlist: fields.ipAllowlist,
    parentKeyId: fields.parentKeyId,
    lastUsedAtMs: null,
    usageCount: 0,
    createdAtMs: nowMilliseconds,
    updatedAtMs: nowMilliseconds,
  };
  await store.insertKey(executor, key, {
    hash: hashSecret(secret),
    keyId: key.id,
    createdAtMs: nowMilliseconds,
    retiresAtMs: null,
  });
  await recordProjectEvent(
    executor,
    actor,
    "key.created",
    keyTarget(key),
    { id: key.projectId, tenantId: fields.tenantId },
    nowMilliseconds,
    {
      name: key.name,
      scopes: key.scopes,
      owner: key.owner,
      root: key.isRoot,
      expires_at_ms: key.expiresAtMs,
      ratelimit_limit: key.ratelimitLimit,
      ratelimit_window_seconds: key.ratelimitWindowSeconds,
      enabled: key.enabled,
      meta: key.meta,
      ip_allowlist: key.ipAllowlist,
      // Created through a session token: bound to (expiring no later than, revoked with) this key.
      ...(key.parentKeyId === null ? {} : { parent_key_id: key.parentKeyId }),
    },
  );
  return key;
}

export async function listKeys(
  deps: KeysDeps,
  caller: Caller,
  filter: Omit<store.KeyListFilter, "projectId" | "includeRoot"> & { projectId?: string },
): Promise<Page<ApiKeyRow>> {
  const projectId = filter.projectId ?? caller.projectId;
  if (projectId !== caller.projectId && !caller.crossProject) throw projectNotFound();
  if (caller.crossProject && !(await store.findKeyProject(deps.storage.reader, projectId))) throw projectNotFound();
  const rows = await store.listKeys(deps.storage.reader, { ...filter, projectId, includeRoot: caller.isRoot });
  return pageOf(rows, filter.limit);
}

export async function getKey(deps: KeysDeps, caller: Caller, keyId: string): Promise<ApiKeyRow> {
  return visibleKeyOrThrow(await store.findKey(deps.storage.reader, keyId), caller);
}

/**
 * "Which key is this?": the key a secret belongs to (its current secret, or one retired by rotation), under the same
 * visibility rule as reading it by id. Malformed, unknown and out of reach are one answer, 404, so the route tells a
 * caller nothing about secrets of keys it may not read. The secret is hashed, never kept or logged.
 */
export async function findKeyBySecret(deps: KeysDeps, caller: Caller, secret: string): Promise<ApiKeyRow> {
  const reader = deps.storage.reader;
  const keyId = isWellFormedSecret(secret) ? await store.findKeyIdBySecretHash(reader, hashSecret(secret)) : undefined;
  return visibleKeyOrThrow(keyId === undefined ? undefined : await store.findKey(reader, keyId), caller);
}

export async function revokeKey(
  deps: KeysDeps,
  caller: Caller,
  actor: AuditActor,
  keyId: string,
  nowMilliseconds: number,
): Promise<ApiKeyRow> {
  return deps.storage.writeTransaction(async (tx) => {
    const key = visibleKeyOrThrow(await store.findKey(tx, keyId), caller);
    if (key.isRoot) {
      throw new AppError("CONFLICT", { message: "The root key cannot be revoked; rotate it instead." });
    }
    if (key.revokedAtMs !== null) return key;
    const revoked = (await store.markKeyRevoked(tx, keyId, nowMilliseconds))!;
    await deps.changeLog.record(tx, "api_key", keyId, nowMilliseconds);
    const project = await projectOf(tx, key);
    await recordProjectEvent(tx, actor, "key.revoked", keyTarget(key), project, nowMilliseconds, { name: key.name });
    await revokeKeysCreatedThrough(deps, tx, actor, keyId, project, nowMilliseconds);
    return revoked;
  });
}

/**
 * Revokes every live key of a project being deleted, inside the deletion's transaction, each with its audit event;
 * the caller records the project's change, which drops every cached key of it. Returns how many were revoked.
 */
export async function revokeKeysOfProject(
  executor: Executor,
  actor: AuditActor,
  project: { id: string; tenantId: string },
  nowMilliseconds: number,
): Promise<number> {
  const revoked = await store.markProjectKeysRevoked(executor, project.id, nowMilliseconds);
  for (const key of revoked) {
    await recordProjectEvent(
      executor,
      actor,
      "key.revoked",
      { type: "api_key", id: key.id },
      project,
      nowMilliseconds,
      { name: key.name, reason: "project.deleted" },
    );
  }
  return revoked.length;
}

/**
 * The keys created through session tokens of `keyId`, and through theirs in turn, revoked with it in the same
 * transaction: every process drops them through the change log as it drops the parent.
 */
async function revokeKeysCreatedThrough(
  deps: KeysDeps,
  tx: Executor,
  actor: AuditActor,
  keyId: string,
  project: { id: string; tenantId: string },
  nowMilliseconds: number,
): Promise<void> {
  // Each generation was created after the one before, so this ends; the guard on live keys keeps it from repeating.
  for (let parents = [keyId]; parents.length > 0; ) {
    const children = await store.markChildKeysRevoked(tx, parents, nowMilliseconds);
    for (const child of children) {
      await deps.changeLog.record(tx, "api_key", child.id, nowMilliseconds);
      await recordProjectEvent(tx, actor, "key.revoked", keyTarget(child), project, nowMilliseconds, {
        name: child.name,
        reason: "parent_revoked",
        parent_key_id: child.parentKeyId,
      });
    }
    parents = children.map((child) => child.id);
  }
}

function projectNotFound(): AppError {
  return new AppError("NOT_FOUND", {
    message: "No such project.",
    details: [{ path: "project_id", message: "no project with this id is visible to this key" }],
  });
}
