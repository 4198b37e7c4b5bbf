/**
 * Turns a presented API key into a principal or a refusal. The format and checksum gate runs first so that garbage
 * never reaches the database; the lookup is by sha256(secret), and the stored hash is compared in constant time.
 */

import { hashSecret, isWellFormedSecret, MAX_SECRET_LENGTH } from "../domain/keys/secret.ts";
import { constantTimeEqual } from "../lib/crypto.ts";
import type { CredentialCache } from "./credential-cache.ts";
import type { KeyCredentialRecord } from "./credential-store.ts";
import { type AccessRequirement, decideKeyAccess } from "./decision.ts";
import { type Authentication, type Principal, rateLimitPolicyOf, refused, secretVersionOf } from "./principal.ts";

async function lookupKeyCredential(
  credentials: CredentialCache,
  secret: string,
): Promise<KeyCredentialRecord | undefined> {
  if (!isWellFormedSecret(secret)) return undefined;
  const secretHash = hashSecret(secret);
  // Memory first; the database only when memory does not hold the whole record (or may not be trusted).
  const record = credentials.cachedBySecretHash(secretHash) ?? (await credentials.bySecretHash(secretHash));
  return matching(record, secretHash);
}

/**
 * The record for this secret if memory holds all of it and may be trusted; undefined otherwise (ask the slow way).
 * No format gate first: a secret whose SHA-256 is a stored key's hash is that key's secret, and anything longer than
 * a secret can be is left to the slow way, which refuses garbage before hashing it.
 */
export function cachedKeyCredential(credentials: CredentialCache, secret: string): KeyCredentialRecord | undefined {
  if (secret.length > MAX_SECRET_LENGTH) return undefined;
  const secretHash = hashSecret(secret);
  return matching(credentials.cachedBySecretHash(secretHash), secretHash);
}

/** The index found the row by this hash; the constant-time check keeps the final comparison free of early exits. */
function matching(record: KeyCredentialRecord | undefined, secretHash: string): KeyCredentialRecord | undefined {
  return record && constantTimeEqual(record.secretHash, secretHash) ? record : undefined;
}

export async function authenticateKey(
  credentials: CredentialCache,
  secret: string,
  requirement: AccessRequirement,
  nowMilliseconds: number,
): Promise<Authentication> {
  const record = await lookupKeyCredential(credentials, secret);
  const refusal = decideKeyAccess(record, requirement, nowMilliseconds);
  if (refusal === null) return { principal: keyPrincipalOf(record!), refusal: null };
  // An unknown key, or one of a project the caller did not name, stays unknown: no identity goes with the refusal.
  const identified = record !== undefined && refusal.code !== "API_KEY_INVALID";
  return refused(refusal, identified ? keyPrincipalOf(record) : null);
}

/** Records are replaced, never changed, when their rows change: each one's principal is worked out once. */
const principals = new WeakMap<KeyCredentialRecord, Principal>();

export function keyPrincipalOf(record: KeyCredentialRecord): Principal {
  let principal = principals.get(record);
  if (principal === undefined) {
    principal = Object.freeze(principalOf(record));
    principals.set(record, principal);
  }
  return principal;
}

function principalOf(record: KeyCredentialRecord): Principal {
  const { key, project } = record;
  return {
    kind: "api_key",
    keyId: key.id,
    projectId: key.projectId,
    tenantId: project.tenantId,
    scopes: key.scopes,
    isRoot: key.isRoot,
    crossProject: key.isRoot,
    owner: key.owner,
    meta: key.meta,
    subject: key.id,
    secretVersion: secretVersionOf(record.secretHash),
    origin: null,
    tokenId: null,
    ratelimit: rateLimitPolicyOf(key, project),
    expiresAtMs: earliestOf(key.expiresAtMs, record.secretRetiresAtMs),
  };
}

/** The sooner of two moments, either of which may be absent (null: never). */
function earliestOf(first: number | null, second: number | null): number | null {
  if (first === null) return second;
  return second === null ? first : Math.min(first, second);
}
