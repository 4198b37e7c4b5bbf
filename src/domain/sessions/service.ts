/**
 * Minting session tokens (checking them is the auth layer's: src/auth/session-tokens.ts).
 *
 * - End-user tokens (`POST /v1/sessions`): for one end user (`sub`), scopes a subset of the parent key's (by default
 *   its `*:read` scopes), lifetime the project's `session_ttl_seconds` (15 minutes by default).
 * - Browser-channel tokens (`POST /api/v1/sessions`): `sub` is the key itself, bound to the exact Origin that asked,
 *   one hour, with the key's scopes unless fewer are asked for.
 * - Neither carries latchkey's own management scopes (keys:read, keys:write, cli:approve) unless they are asked for
 *   by name: by default a token can use the host API, not manage keys or approve logins.
 *
 * A token never outlives its parent: its `exp` is at most the parent's expiry and its secret's retirement.
 */

import type { Storage } from "../../db/storage.ts";
import { AppError } from "../../lib/errors.ts";
import { SYSTEM_ACTOR } from "../audit/service.ts";
import type { Caller } from "../keys/caller.ts";
import { isManagementScope, scopesBeyondGrantor } from "../keys/scopes.ts";
import { findProject } from "../tenants/store.ts";
import { DEFAULT_ACTIVATION_LEAD_SECONDS } from "./activation-lead.ts";
import { BROWSER_SESSION_TTL_SECONDS, type Rotation, rotateSigningKey, type SigningKeyRing } from "./signing-keys.ts";
import { signSessionToken } from "./tokens.ts";

export interface SessionsDeps {
  storage: Storage;
  sessions: { ring: SigningKeyRing };
  settings: { publicUrl: string };
}

export interface MintedSession {
  token: string;
  expiresAtMs: number;
  scopes: string[];
}

export async function mintEndUserSession(
  deps: SessionsDeps,
  caller: Caller,
  input: { userId: string; scopes?: string[] },
  nowMilliseconds: number,
): Promise<MintedSession> {
  refuseRootKey(caller);
  const scopes = grantableScopes(caller, input.scopes, (scope) => scope.endsWith(":read"));
  const project = (await findProject(deps.storage.reader, caller.projectId))!;
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
  caller: Caller,
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
function refuseRootKey(caller: Caller): void {
  if (caller.isRoot) {
    throw new AppError("ROOT_KEY_NOT_ALLOWED", {
      message: "Session tokens are minted from a project key, never from the root key.",
    });
  }
}

/**
 * The scopes asked for, if the caller holds them all; otherwise the caller's own scopes that pass `byDefault`, never
 * a management scope.
 */
function grantableScopes(caller: Caller, asked: string[] | undefined, byDefault: (scope: string) => boolean): string[] {
  if (asked === undefined) return caller.scopes.filter((scope) => byDefault(scope) && !isManagementScope(scope));
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
    deps.storage,
    deps.sessions.ring,
    deps.sessions.masterKey,
    SYSTEM_ACTOR,
    DEFAULT_ACTIVATION_LEAD_SECONDS,
    nowMilliseconds,
    deps.settings.signingKeyRotationDays,
  );
}
