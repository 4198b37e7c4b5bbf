/**
 * Credential → principal for a route row.
 *
 * - `Authorization: Bearer <key>`: an API key (or the root key).
 * - `X-Session-Token: <token>`: a session token, on routes that take one (`key_or_session`, and `root` routes only to
 *   refuse it with 403). When a key is sent too, the token must have been minted from that very key.
 * - `X-Project-Id`: the project the caller expects; a credential of any other project is refused as invalid.
 * - The browser rule: a request that carries `Origin` and writes (POST, PUT, PATCH, DELETE) must carry a session
 *   token; a bare API key from a browser is 401 SESSION_REQUIRED. Only the browser channel, which exists to turn a
 *   key into a token, is exempt.
 */
import type { AppDeps } from "../deps.ts";
import { AppError } from "../errors.ts";
import { authenticateSessionToken } from "../sessions/service.ts";
import type { Module } from "../tenants/model.ts";
import { decideScopes } from "../verify/decision.ts";
import type { Principal } from "../verify/principal.ts";
import { authenticateKey } from "../verify/service.ts";

const WRITE_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export interface AccessSpec {
  credential: "key" | "key_or_session" | "root";
  module?: Module;
  scopes?: readonly string[];
  browserChannel?: boolean;
}

/** What a request presents: from its headers, or (POST /v1/keys/verify) from the body of the caller asking. */
export interface PresentedCredentials {
  /** The bearer credential; null when there is none (no header, another scheme, or an empty value). */
  secret: string | null;
  sessionToken: string | null;
  origin: string | null;
  projectId: string | null;
}

export function presentedBy(headers: Headers): PresentedCredentials {
  const authorization = headers.get("authorization");
  const match = authorization === null ? null : /^Bearer(?:[ \t]+(.*))?$/i.exec(authorization);
  const secret = match ? (match[1] ?? "").trim() : "";
  return {
    secret: secret === "" ? null : secret,
    sessionToken: headers.get("x-session-token"),
    origin: headers.get("origin"),
    projectId: headers.get("x-project-id"),
  };
}

/** `method` is the method the decision is about: the request's own, or the original one behind a proxy. */
export async function authenticateRequest(
  deps: AppDeps,
  spec: AccessSpec,
  method: string,
  presented: PresentedCredentials,
  nowMilliseconds: number,
): Promise<Principal> {
  const { origin, sessionToken, secret } = presented;
  // latchkey's own pages (the CLI approval page) are not a foreign browser origin: no project needs to list them.
  const foreignOrigin = origin !== null && origin !== ownOrigin(deps.settings.publicUrl) ? origin : null;
  const projectId = presented.projectId ?? undefined;

  if (origin !== null && sessionToken === null && WRITE_METHODS.has(method.toUpperCase()) && !spec.browserChannel) {
    throw new AppError("SESSION_REQUIRED", {
      message: "A browser request that writes must carry a session token (X-Session-Token), not a bare API key.",
    });
  }

  if (sessionToken !== null && spec.credential !== "key") {
    const session = await authenticateSessionToken(
      deps,
      sessionToken,
      { origin: foreignOrigin, projectId, module: spec.module },
      nowMilliseconds,
    );
    if (secret !== null) {
      const key = authenticateKey(deps.credentials, secret, { projectId }, nowMilliseconds);
      if (!key.ok) throw new AppError(key.code, { details: key.details });
      if (key.principal.keyId !== session.keyId) {
        throw new AppError("SESSION_INVALID", { message: "The session token was not minted from this API key." });
      }
    }
    if (spec.credential === "root") throw needsRootKey();
    const scopes = decideScopes(session.scopes, spec.scopes ?? []);
    if (!scopes.ok) throw new AppError(scopes.code, { details: scopes.details });
    return session;
  }

  if (secret === null) throw new AppError("API_KEY_REQUIRED");
  const authentication = authenticateKey(
    deps.credentials,
    secret,
    { module: spec.module, scopes: spec.scopes, projectId, origin: foreignOrigin },
    nowMilliseconds,
  );
  if (!authentication.ok) throw new AppError(authentication.code, { details: authentication.details });
  if (spec.credential === "root" && !authentication.principal.isRoot) throw needsRootKey();
  return authentication.principal;
}

let ownOriginMemo = { publicUrl: "", origin: "" };

/** The origin of latchkey's public URL (remembered: it is asked on every request and changes only at start). */
export function ownOrigin(publicUrl: string): string {
  if (ownOriginMemo.publicUrl !== publicUrl) ownOriginMemo = { publicUrl, origin: new URL(publicUrl).origin };
  return ownOriginMemo.origin;
}

function needsRootKey(): AppError {
  return new AppError("SCOPE_NOT_GRANTED", {
    message: "This operation needs the root key.",
    details: [{ path: "credential", message: "root" }],
  });
}
