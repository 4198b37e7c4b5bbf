/**
 * Checking a session token: the token itself (signature, kid, iss, aud, typ, exp: SESSION_INVALID or SESSION_EXPIRED,
 * verified once and then remembered until its exp), then its parent key in the documented order. A token dies with
 * its parent: every check re-reads the parent key, its secret, project and tenant (from the credential cache, which
 * the change log keeps true), so revoking the key, rotating its secret out, suspending the tenant or disabling
 * `sessions` refuses the token on the next request. A token bound to an origin is only accepted from that origin
 * while the project still lists it.
 */
import type { LRUCache } from "lru-cache";
import type { SigningKeyRing } from "../domain/sessions/signing-keys.ts";
import { checkSessionToken, type SessionClaims } from "../domain/sessions/tokens.ts";
import { sha256Hex } from "../lib/crypto.ts";
import { AppError } from "../lib/errors.ts";
import type { Metrics } from "../lib/metrics.ts";
import type { Module } from "../lib/modules.ts";
import type { CredentialCache } from "./credential-cache.ts";
import type { KeyCredentialRecord } from "./credential-store.ts";
import { decideAddress, decideKeyAccess, decideOrigin } from "./decision.ts";
import { type Authentication, type Principal, rateLimitPolicyOf, refused, secretVersionOf } from "./principal.ts";

export interface SessionTokenDeps {
  credentials: CredentialCache;
  sessions: { ring: SigningKeyRing; verifiedTokens: LRUCache<string, SessionClaims> };
  settings: { publicUrl: string };
  metrics: Metrics;
}

export interface SessionExpectations {
  /** The request's Origin header, if any. */
  origin: string | null;
  /** X-Project-Id, when the caller named the project it expects. */
  projectId?: string;
  /** The route's module, checked on the parent's tenant besides `sessions`. */
  module?: Module;
  /** The address the parent key's ip_allowlist judges (see AccessRequirement). */
  clientAddress?: () => string | null;
}

/** The principal a session token stands for, or the refusal in the documented decision order. */
export async function authenticateSessionToken(
  deps: SessionTokenDeps,
  token: string,
  expectations: SessionExpectations,
  nowMilliseconds: number,
): Promise<Authentication> {
  const claims = await verifiedClaims(deps, token, nowMilliseconds);
  if (claims instanceof AppError) return refused(claims);
  if (expectations.projectId !== undefined && expectations.projectId !== claims.aud) {
    return refused(new AppError("SESSION_INVALID"));
  }
  const record = await deps.credentials.byKeyId(claims.key, (secretHash) => secretVersionOf(secretHash) === claims.kv);
  return sessionPrincipalOf(record, claims, expectations, nowMilliseconds);
}

/**
 * authenticateSessionToken when memory holds everything (the token checked before and unexpired, its parent key,
 * project and tenant) and the token is accepted; undefined otherwise, for the full check to decide and say why.
 */
export function warmSessionPrincipal(
  deps: SessionTokenDeps,
  token: string,
  expectations: SessionExpectations,
  nowMilliseconds: number,
): Principal | undefined {
  const claims = deps.sessions.verifiedTokens.get(sha256Hex(token));
  if (claims === undefined || claims.exp * 1000 <= nowMilliseconds) return undefined;
  if (expectations.projectId !== undefined || expectations.origin !== null) return undefined;
  // The same token, asked again with nothing dropped from the caches since: the same principal, if still unexpired
  // (its expiry is the earliest of the token's, the parent key's and the parent secret's retirement).
  const generation = deps.credentials.currentGeneration;
  const known = warmSessions.get(claims);
  if (
    known?.generation === generation &&
    known.module === expectations.module &&
    deps.credentials.mayAnswerFromMemory()
  ) {
    if (nowMilliseconds >= (known.principal.expiresAtMs ?? Number.POSITIVE_INFINITY)) return undefined;
    // The one check that depends on the request rather than on the records: where it comes from.
    if (decideAddress(known.ipAllowlist, expectations.clientAddress) !== null) return undefined;
    deps.metrics.tokenCacheHits++;
    return known.principal;
  }
  const record = deps.credentials.cachedByKeyId(claims.key, (hash) => secretVersionOf(hash) === claims.kv);
  if (record === undefined) return undefined;
  const { principal } = sessionPrincipalOf(record, claims, expectations, nowMilliseconds);
  if (principal === null) return undefined;
  remember(claims, generation, expectations, record, principal);
  deps.metrics.tokenCacheHits++;
  return principal;
}

/** The principal last worked out for a token's claims (kept as long as its claims are), and from what. */
const warmSessions = new WeakMap<
  SessionClaims,
  { generation: number; module: Module | undefined; ipAllowlist: readonly string[] | null; principal: Principal }
>();

function remember(
  claims: SessionClaims,
  generation: number,
  expectations: SessionExpectations,
  record: KeyCredentialRecord,
  principal: Principal,
): void {
  warmSessions.set(claims, { generation, module: expectations.module, ipAllowlist: record.key.ipAllowlist, principal });
}

/** The parent's checks, in the documented order, and the principal they leave (or the first refusal). */
function sessionPrincipalOf(
  record: KeyCredentialRecord | undefined,
  claims: SessionClaims,
  expectations: SessionExpectations,
  nowMilliseconds: number,
): Authentication {
  // The root key mints no tokens; one that names it as its parent was not made by this server's rules.
  if (!record || record.key.projectId !== claims.aud || record.key.isRoot)
    return refused(new AppError("SESSION_INVALID"));
  for (const module of new Set<Module>(["sessions", ...(expectations.module ? [expectations.module] : [])])) {
    const parentRefusal = decideKeyAccess(
      record,
      { module, clientAddress: expectations.clientAddress },
      nowMilliseconds,
    );
    if (parentRefusal) return refused(parentRefusal);
  }
  const originRefusal = sessionOriginRefusal(record.project.allowedOrigins, claims.origin, expectations.origin);
  if (originRefusal) return refused(originRefusal);
  const parentScopes = new Set(record.key.scopes);
  const principal: Principal = {
    kind: "session",
    keyId: record.key.id,
    projectId: record.key.projectId,
    tenantId: record.project.tenantId,
    // Never more than the parent holds now, even if the parent's scopes were narrowed after minting.
    scopes: claims.scp.filter((scope) => parentScopes.has(scope)),
    isRoot: false,
    crossProject: false,
    owner: record.key.owner,
    meta: record.key.meta,
    subject: claims.sub,
    secretVersion: claims.kv,
    origin: claims.origin ?? null,
    tokenId: claims.jti,
    ratelimit: rateLimitPolicyOf(record.key, record.project),
    expiresAtMs: Math.min(
      claims.exp * 1000,
      record.key.expiresAtMs ?? Number.POSITIVE_INFINITY,
      record.secretRetiresAtMs ?? Number.POSITIVE_INFINITY,
    ),
  };
  return { principal, refusal: null };
}

/**
 * A token bound to an origin is accepted only from that origin, and only while the project still lists it; an
 * unbound one from any origin the project lists (or from none).
 */
function sessionOriginRefusal(
  allowedOrigins: readonly string[],
  boundOrigin: string | undefined,
  origin: string | null,
): AppError | null {
  if (boundOrigin === undefined) return decideOrigin(allowedOrigins, origin);
  if (origin !== boundOrigin) {
    return new AppError("ORIGIN_NOT_ALLOWED", {
      message: "This session token is bound to another origin.",
      details: [{ path: "origin", message: (origin ?? "(none)").slice(0, 2048) }],
    });
  }
  return decideOrigin(allowedOrigins, boundOrigin);
}

/**
 * The token's claims after a full check, from a bounded cache of tokens already checked (keyed by the token's
 * hash, never used past `exp`), so the signature is verified once per token rather than once per request.
 */
async function verifiedClaims(
  deps: SessionTokenDeps,
  token: string,
  nowMilliseconds: number,
): Promise<SessionClaims | AppError> {
  const cacheKey = sha256Hex(token);
  const cached = deps.sessions.verifiedTokens.get(cacheKey);
  if (cached !== undefined) {
    deps.metrics.tokenCacheHits++;
    if (cached.exp * 1000 > nowMilliseconds) return cached;
    deps.sessions.verifiedTokens.delete(cacheKey);
    return new AppError("SESSION_EXPIRED");
  }
  deps.metrics.tokenCacheMisses++;
  const checked = await checkSessionToken(deps.sessions.ring, deps.settings.publicUrl, token, nowMilliseconds);
  if (!(checked instanceof AppError)) deps.sessions.verifiedTokens.set(cacheKey, checked);
  return checked;
}
