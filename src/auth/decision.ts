/**
 * The credential decision, in the documented order:
 *
 *   format and checksum → lookup → revoked (or its project or tenant deleted) → disabled → expired → root key on
 *   the data plane → tenant status and subscription → module → IP allowlist → origin → scopes → rate limit
 *
 * Pure functions of (record, requirement, now): the same inputs always give the same answer, which is what the
 * table in test/auth/decision.test.ts pins, one row per step. The first failing step names the refusal; nothing
 * after it is evaluated. A decision is the refusal (an AppError, the auth core's one refusal type, thrown only at the
 * HTTP edge) or null when the step allows.
 */

import { type ScopeQuery, scopeQueryText, unmetPartOf } from "../domain/keys/scope-query.ts";
import { decideTenantAccess } from "../domain/tenants/model.ts";
import { type AddressRanges, parseAddressRanges } from "../lib/address-ranges.ts";
import { AppError } from "../lib/errors.ts";
import type { Module } from "../lib/modules.ts";
import type { KeyCredentialRecord } from "./credential-store.ts";

/** What a request needs of a credential's scopes: every one of `scopes`, and the query (if any) satisfied. */
export interface ScopeRequirement {
  scopes?: readonly string[];
  scopeQuery?: ScopeQuery;
}

export interface AccessRequirement extends ScopeRequirement {
  module?: Module;
  /** When the caller names a project, a key of any other project is as good as unknown. */
  projectId?: string;
  /** The browser origin the request came from; it must be one of the project's allowed origins. */
  origin?: string | null;
  /** Verification for the host API: the root key manages latchkey and is no credential for anyone's API. */
  refuseRootKey?: boolean;
  /**
   * The address a key's ip_allowlist judges (the client's, or the one verification names); null when unknown, which
   * a key with an allowlist refuses. A function: it is asked only of keys that have an allowlist.
   */
  clientAddress?: () => string | null;
}

export function decideKeyAccess(
  record: KeyCredentialRecord | undefined,
  requirement: AccessRequirement,
  nowMilliseconds: number,
): AppError | null {
  if (!record) return new AppError("API_KEY_INVALID");
  const { key, tenant } = record;
  if (requirement.projectId !== undefined && requirement.projectId !== key.projectId && !key.isRoot) {
    return new AppError("API_KEY_INVALID");
  }
  if (key.revokedAtMs !== null && key.revokedAtMs <= nowMilliseconds) return new AppError("API_KEY_REVOKED");
  // Deleting a project or tenant revokes its keys; this holds even where a cached key row predates the revocation.
  if (record.project.deletedAtMs !== null || tenant.deletedAtMs !== null) return new AppError("API_KEY_REVOKED");
  if (record.secretRetiresAtMs !== null && record.secretRetiresAtMs <= nowMilliseconds) {
    return new AppError("API_KEY_REVOKED");
  }
  if (!key.enabled) return new AppError("API_KEY_DISABLED");
  if (key.expiresAtMs !== null && key.expiresAtMs <= nowMilliseconds) return new AppError("API_KEY_EXPIRED");
  if (key.isRoot && requirement.refuseRootKey) return new AppError("ROOT_KEY_NOT_ALLOWED");
  // The root key is the operator's way back in: tenant state, modules and scopes never lock it out.
  if (!key.isRoot) {
    const tenantRefusal = decideTenantAccess(tenant, requirement.module);
    if (tenantRefusal) return tenantRefusal;
    const addressRefusal = decideAddress(key.ipAllowlist, requirement.clientAddress);
    if (addressRefusal) return addressRefusal;
  }
  const originRefusal = decideOrigin(record.project.allowedOrigins, requirement.origin ?? null);
  if (originRefusal) return originRefusal;
  return key.isRoot ? null : decideScopes(key.scopes, requirement);
}

/** Records are replaced, never changed: each allowlist is parsed once (it was validated when it was stored). */
const allowlists = new WeakMap<readonly string[], AddressRanges>();

/** A key with an allowlist is used only from an address on it; one that cannot say its address is refused. */
export function decideAddress(
  allowlist: readonly string[] | null,
  clientAddress: (() => string | null) | undefined,
): AppError | null {
  if (allowlist === null) return null;
  let ranges = allowlists.get(allowlist);
  if (ranges === undefined) {
    const parsed = parseAddressRanges(allowlist);
    ranges = parsed.ok ? parsed.ranges : { has: () => false };
    allowlists.set(allowlist, ranges);
  }
  const address = clientAddress?.() ?? null;
  if (address !== null && ranges.has(address)) return null;
  return new AppError("IP_NOT_ALLOWED", {
    details: [
      { path: "ip", message: address === null ? "the client address is unknown" : "not in the key's ip_allowlist" },
    ],
  });
}

/** A request from a browser (it carries Origin) must come from one of the project's exact origins. */
export function decideOrigin(allowedOrigins: readonly string[], origin: string | null): AppError | null {
  if (origin === null || allowedOrigins.includes(origin)) return null;
  return new AppError("ORIGIN_NOT_ALLOWED", { details: [{ path: "origin", message: origin.slice(0, 2048) }] });
}

/**
 * Every required scope must be held, and the scope query satisfied; the refusal lists exactly the missing scopes, or
 * the unmet part of the query (written back in its grammar).
 */
export function decideScopes(heldScopes: readonly string[], required: ScopeRequirement): AppError | null {
  const requiredScopes = required.scopes ?? [];
  // The common case (everything held) without building the list of what is missing: this runs for every check.
  if (!holdsAll(heldScopes, requiredScopes)) {
    const missing = missingScopes(heldScopes, requiredScopes);
    return new AppError("SCOPE_NOT_GRANTED", { details: missing.map((scope) => ({ path: "scopes", message: scope })) });
  }
  const unmet = required.scopeQuery && unmetPartOf(required.scopeQuery, heldScopes);
  if (!unmet) return null;
  return new AppError("SCOPE_NOT_GRANTED", { details: [{ path: "scope_query", message: scopeQueryText(unmet) }] });
}

function holdsAll(heldScopes: readonly string[], requiredScopes: readonly string[]): boolean {
  for (const scope of requiredScopes) if (!heldScopes.includes(scope)) return false;
  return true;
}

function missingScopes(heldScopes: readonly string[], requiredScopes: readonly string[]): string[] {
  return requiredScopes.filter((scope) => !heldScopes.includes(scope));
}
