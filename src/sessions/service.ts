/**
 * Minting and checking session tokens.
 *
 * - End-user tokens (`POST /v1/sessions`): for one end user (`sub`), scopes a subset of the parent key's (by default
 *   its `*:read` scopes), lifetime the project's `session_ttl_seconds` (15 minutes by default).
 * - Browser-channel tokens (`POST /api/v1/sessions`): `sub` is the key itself, bound to the exact Origin that asked,
 *   one hour, with the key's scopes unless fewer are asked for.
 *
 * A token dies with its parent: every check re-reads the parent key, its secret, project and tenant, so revoking the
 * key, rotating its secret out, suspending the tenant or disabling `sessions` refuses the token on the next request.
 * A token bound to an origin is only accepted from that origin while the project still lists it.
 */
import type { LRUCache } from "lru-cache";
import type { Db } from "../db/client.ts";
import { AppError } from "../errors.ts";
import { sha256Hex } from "../lib/crypto.ts";
import { scopesBeyondGrantor } from "../keys/scopes.ts";
import type { Module } from "../tenants/model.ts";
import { findProject } from "../tenants/store.ts";
import { decideKeyAccess, decideOrigin } from "../verify/decision.ts";
import type { Metrics } from "../ops/metrics.ts";
import type { CredentialCache } from "../verify/credential-cache.ts";
import { type Principal, rateLimitPolicyOf, secretVersionOf } from "../verify/principal.ts";
import { SYSTEM_ACTOR } from "../audit/service.ts";
import {
  BROWSER_SESSION_TTL_SECONDS,
  DEFAULT_ACTIVATION_LEAD_SECONDS,
  rotateSigningKey,
  type Rotation,
  type SigningKeyRing,
} from "./signing-keys.ts";
import { checkSessionToken, type SessionClaims, signSessionToken } from "./tokens.ts";

export interface SessionsDeps {
  db: Db;
  credentials: CredentialCache;
  sessions: { ring: SigningKeyRing; verifiedTokens: LRUCache<string, SessionClaims> };
  settings: { publicUrl: string };
  metrics: Metrics;
}

export interface MintedSession {
  token: string;
  expiresAtMs: number;
  scopes: string[];
}

export async function mintEndUserSession(
  deps: SessionsDeps,
  caller: Principal,
  input: { userId: string; scopes?: string[] },
  nowMilliseconds: number,
): Promise<MintedSession> {
  refuseRootKey(caller);
  const scopes = grantableScopes(caller, input.scopes, (scope) => scope.endsWith(":read"));
  const project = findProject(deps.db, caller.projectId)!;
  const minted = await signSessionToken(
    deps.sessions.ring,
    deps.settings.publicUrl,
    {
      projectId: caller.projectId,
      subject: input.userId,
      parentKeyId: caller.keyId,
      parentSecretVersion: caller.secretVersion,
      scopes,
      lifetimeSeconds: project.sessionTtlSeconds,
      notAfterMs: caller.expiresAtMs,
    },
    nowMilliseconds,
  );
  return { token: minted.token, expiresAtMs: minted.expiresAtMs, scopes };
}

export async function mintBrowserSession(
  deps: SessionsDeps,
  caller: Principal,
  origin: string,
  input: { scopes?: string[] },
  nowMilliseconds: number,
): Promise<MintedSession> {
  refuseRootKey(caller);
  const scopes = grantableScopes(caller, input.scopes, () => true);
  const minted = await signSessionToken(
    deps.sessions.ring,
    deps.settings.publicUrl,
    {
      projectId: caller.projectId,
      subject: caller.keyId,
      parentKeyId: caller.keyId,
      parentSecretVersion: caller.secretVersion,
      scopes,
      origin,
      lifetimeSeconds: BROWSER_SESSION_TTL_SECONDS,
      notAfterMs: caller.expiresAtMs,
    },
    nowMilliseconds,
  );
  return { token: minted.token, expiresAtMs: minted.expiresAtMs, scopes };
}

/**
 * Tokens are credentials for the host API, and the root key is a management credential: a token minted from it would
 * carry any scope it asked for to every API behind latchkey.
 */
function refuseRootKey(caller: Principal): void {
  if (caller.isRoot) {
    throw new AppError("ROOT_KEY_NOT_ALLOWED", {
      message: "Session tokens are minted from a project key, never from the root key.",
    });
  }
}

/** The scopes asked for, if the caller holds them all; otherwise the caller's own scopes that pass `byDefault`. */
function grantableScopes(
  caller: Principal,
  asked: string[] | undefined,
  byDefault: (scope: string) => boolean,
): string[] {
  if (asked === undefined) return caller.scopes.filter(byDefault);
  const scopes = [...new Set(asked)];
  const beyond = scopesBeyondGrantor(caller, scopes);
  if (beyond.length > 0) {
    throw new AppError("SCOPE_NOT_GRANTED", {
      message: "A session token can only carry scopes its parent key holds.",
      details: beyond.map((scope) => ({ path: `scopes[${asked.indexOf(scope)}]`, message: scope })),
    });
  }
  return scopes;
}

export interface SessionExpectations {
  /** The request's Origin header, if any. */
  origin: string | null;
  /** X-Project-Id, when the caller named the project it expects. */
  projectId?: string;
  /** The route's module, checked on the parent's tenant besides `sessions`. */
  module?: Module;
}

/** The principal a session token stands for, or the refusal (thrown) in the documented decision order. */
export async function authenticateSessionToken(
  deps: SessionsDeps,
  token: string,
  expectations: SessionExpectations,
  nowMilliseconds: number,
): Promise<Principal> {
  const claims = await verifiedClaims(deps, token, nowMilliseconds);
  if (expectations.projectId !== undefined && expectations.projectId !== claims.aud) {
    throw new AppError("SESSION_INVALID");
  }
  const record = deps.credentials.byKeyId(claims.key, (secretHash) => secretVersionOf(secretHash) === claims.kv);
  // The root key mints no tokens; one that names it as its parent was not made by this server's rules.
  if (!record || record.key.projectId !== claims.aud || record.key.isRoot) throw new AppError("SESSION_INVALID");
  for (const module of new Set<Module>(["sessions", ...(expectations.module ? [expectations.module] : [])])) {
    const parent = decideKeyAccess(record, { module }, nowMilliseconds);
    if (!parent.ok) throw new AppError(parent.code, { details: parent.details });
  }
  if (claims.origin !== undefined) {
    if (expectations.origin !== claims.origin) {
      throw new AppError("ORIGIN_NOT_ALLOWED", {
        message: "This session token is bound to another origin.",
        details: [{ path: "origin", message: (expectations.origin ?? "(none)").slice(0, 2048) }],
      });
    }
    const stillListed = decideOrigin(record.project.allowedOrigins, claims.origin);
    if (stillListed && !stillListed.ok) throw new AppError(stillListed.code, { details: stillListed.details });
  } else {
    const originRefusal = decideOrigin(record.project.allowedOrigins, expectations.origin);
    if (originRefusal && !originRefusal.ok) throw new AppError(originRefusal.code, { details: originRefusal.details });
  }
  const parentScopes = new Set(record.key.scopes);
  return {
    kind: "session",
    keyId: record.key.id,
    projectId: record.key.projectId,
    tenantId: record.project.tenantId,
    // Never more than the parent holds now, even if the parent's scopes were narrowed after minting.
    scopes: claims.scp.filter((scope) => parentScopes.has(scope)),
    isRoot: false,
    crossProject: false,
    owner: record.key.owner,
    subject: claims.sub,
    secretVersion: claims.kv,
    origin: claims.origin ?? null,
    sessionId: claims.jti,
    ratelimit: rateLimitPolicyOf(record.key, record.project),
    expiresAtMs: Math.min(
      claims.exp * 1000,
      record.key.expiresAtMs ?? Number.POSITIVE_INFINITY,
      record.secretRetiresAtMs ?? Number.POSITIVE_INFINITY,
    ),
  };
}

/**
 * The token's claims after a full check, from a bounded cache of tokens already checked (keyed by the token's
 * hash, never used past `exp`), so the signature is verified once per token rather than once per request.
 */
async function verifiedClaims(deps: SessionsDeps, token: string, nowMilliseconds: number): Promise<SessionClaims> {
  const cacheKey = sha256Hex(token);
  const cached = deps.sessions.verifiedTokens.get(cacheKey);
  if (cached !== undefined) {
    deps.metrics.tokenCacheHits++;
    if (cached.exp * 1000 > nowMilliseconds) return cached;
    deps.sessions.verifiedTokens.delete(cacheKey);
    throw new AppError("SESSION_EXPIRED");
  }
  deps.metrics.tokenCacheMisses++;
  const check = await checkSessionToken(deps.sessions.ring, deps.settings.publicUrl, token, nowMilliseconds);
  if (!check.ok) throw new AppError(check.code);
  deps.sessions.verifiedTokens.set(cacheKey, check.claims);
  return check.claims;
}

/** Rotates the signing key when the active one is older than the configured age and no successor is pending. */
export async function rotateSigningKeyIfDue(
  deps: SessionsDeps & {
    sessions: { masterKey: CryptoKey | null };
    settings: { signingKeyRotationDays: number };
  },
  nowMilliseconds: number,
): Promise<Rotation | null> {
  if (deps.settings.signingKeyRotationDays <= 0) return null;
  return rotateSigningKey(
    deps.db,
    deps.sessions.ring,
    deps.sessions.masterKey,
    SYSTEM_ACTOR,
    DEFAULT_ACTIVATION_LEAD_SECONDS,
    nowMilliseconds,
    deps.settings.signingKeyRotationDays,
  );
}
