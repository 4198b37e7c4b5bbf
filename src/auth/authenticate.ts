/**
 * Credential → principal for a route row.
 *
 * - `Authorization: Bearer <key>`: an API key (or the root key).
 * - `X-Session-Token: <token>`: a session token, on routes that take one (`key_or_session`, and `root` routes only to
 *   refuse it with 403). When a key is sent too, the token must have been minted from that very key.
 * - `X-Project-Id`: the project the caller expects; a credential of any other project is refused as invalid. With the
 *   root key it selects the project the request acts in (404 when there is none); on root-only routes, which are not
 *   about one project, it is refused (400) rather than ignored.
 * - The browser rule: a request that carries `Origin` and is not a safe method (GET, HEAD, OPTIONS; any other or
 *   unknown method counts as a write) must carry a session token; a bare API key from a browser is 401
 *   SESSION_REQUIRED. Only the browser channel, which exists to turn a key into a token, is exempt.
 * - The data plane (verification and forward-auth) answers for the host API: the root key, a management credential,
 *   is refused there (403 ROOT_KEY_NOT_ALLOWED).
 */
import { AppError } from "../lib/errors.ts";
import type { Module } from "../lib/modules.ts";
import { authenticateKey } from "./api-keys.ts";
import { decideScopes, type ScopeRequirement } from "./decision.ts";
import { type Authentication, type Principal, refused } from "./principal.ts";
import { authenticateSessionToken, type SessionTokenDeps } from "./session-tokens.ts";

/**
 * Methods that never change anything (RFC 9110 §9.2.1); every other method, known or not, counts as a write. Method
 * names are case-sensitive (§9.1): "get" is not GET but an unknown method, which a server behind may well treat as
 * a write, so it is one here too.
 */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

function isWriteMethod(method: string): boolean {
  return !SAFE_METHODS.has(method);
}

export interface AccessSpec extends ScopeRequirement {
  credential: "key" | "key_or_session" | "root";
  module?: Module;
  browserChannel?: boolean;
  /** Asked on behalf of the host API (verify, forward-auth): the root key is refused. */
  dataPlane?: boolean;
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
  return {
    secret: bearerSecretOf(headers.get("authorization")),
    sessionToken: headers.get("x-session-token"),
    origin: headers.get("origin"),
    projectId: headers.get("x-project-id"),
  };
}

/** The credential of `Authorization: Bearer <credential>` (the scheme in any case); null for none or another scheme. */
export function bearerSecretOf(authorization: string | null): string | null {
  if (authorization === null) return null;
  // The form every client sends, without the regular expression; anything else takes the general grammar below.
  if (authorization.startsWith("Bearer ") && !/\s/.test(authorization.slice(7))) {
    return authorization.length > 7 ? authorization.slice(7) : null;
  }
  const match = /^Bearer(?:[ \t]+(.*))?$/i.exec(authorization);
  const secret = match ? (match[1] ?? "").trim() : "";
  return secret === "" ? null : secret;
}

/**
 * `method` is the method the browser rule is decided on: the request's own, the original one behind a proxy, or null
 * where there is no request to judge (verification, which answers about a credential).
 */
export async function authenticateRequest(
  deps: SessionTokenDeps,
  spec: AccessSpec,
  request: {
    method: string | null;
    presented: PresentedCredentials;
    /** The address a key's ip_allowlist judges; null when unknown. */
    clientAddress: () => string | null;
  },
  nowMilliseconds: number,
): Promise<Authentication> {
  const { method, presented, clientAddress } = request;
  const { origin, sessionToken, secret } = presented;
  // latchkey's own pages (the CLI approval page) are not a foreign browser origin: no project needs to list them.
  const foreignOrigin = origin !== null && origin !== ownOrigin(deps.settings.publicUrl) ? origin : null;
  const projectId = presented.projectId ?? undefined;

  if (origin !== null && sessionToken === null && method !== null && isWriteMethod(method) && !spec.browserChannel) {
    return refused(
      new AppError("SESSION_REQUIRED", {
        message: "A browser request that writes must carry a session token (X-Session-Token), not a bare API key.",
      }),
    );
  }

  if (sessionToken !== null && spec.credential !== "key") {
    const expectations = { origin: foreignOrigin, projectId, module: spec.module, clientAddress };
    const authentication = await authenticateSessionToken(deps, sessionToken, expectations, nowMilliseconds);
    if (authentication.refusal !== null) return refused(authentication.refusal);
    const session = authentication.principal;
    if (secret !== null) {
      const key = await authenticateKey(deps.credentials, secret, { projectId }, nowMilliseconds);
      if (key.refusal !== null) return refused(key.refusal);
      if (key.principal.keyId !== session.keyId) {
        return refused(
          new AppError("SESSION_INVALID", { message: "The session token was not minted from this API key." }),
        );
      }
    }
    if (spec.credential === "root") return refused(needsRootKey());
    const scopeRefusal = decideScopes(session.scopes, spec);
    return scopeRefusal === null ? authentication : refused(scopeRefusal, session);
  }

  if (secret === null) return refused(new AppError("API_KEY_REQUIRED"));
  const authentication = await authenticateKey(
    deps.credentials,
    secret,
    {
      module: spec.module,
      scopes: spec.scopes,
      scopeQuery: spec.scopeQuery,
      projectId,
      origin: foreignOrigin,
      refuseRootKey: spec.dataPlane,
      clientAddress,
    },
    nowMilliseconds,
  );
  if (authentication.refusal !== null) {
    const hint = hintFor(secret, authentication.refusal);
    return hint === null ? authentication : refused(hint, authentication.principal);
  }
  const principal = authentication.principal;
  if (spec.credential === "root" && !principal.isRoot) return refused(needsRootKey());
  if (!principal.isRoot || projectId === undefined) return { principal, refusal: null };
  if (spec.credential === "root") {
    return refused(
      new AppError("VALIDATION_FAILED", {
        message: "X-Project-Id does not apply to this route: it is not about one project.",
        details: [{ path: "X-Project-Id", message: "must not be sent to this route" }],
      }),
    );
  }
  return rootInProject(deps, principal, projectId);
}

/** The root key acting in the project X-Project-Id names: as if it were a key of that project, with root's powers. */
async function rootInProject(deps: SessionTokenDeps, root: Principal, projectId: string): Promise<Authentication> {
  const project = await deps.credentials.project(projectId);
  if (!project) {
    return refused(
      new AppError("NOT_FOUND", {
        message: "No such project.",
        details: [{ path: "X-Project-Id", message: "no project has this id" }],
      }),
    );
  }
  return {
    principal: { ...root, projectId: project.id, tenantId: project.tenantId, crossProject: false },
    refusal: null,
  };
}

/** A session token is a JWT (three base64url parts); sent as a bearer key, the refusal says where it belongs. */
function hintFor(secret: string, refusal: AppError): AppError | null {
  if (refusal.code !== "API_KEY_INVALID" || !/^eyJ[\w-]*\.[\w-]+\.[\w-]+$/.test(secret)) return null;
  return new AppError("API_KEY_INVALID", {
    details: [{ path: "Authorization", message: "carries a session token: send session tokens as X-Session-Token" }],
  });
}

let ownOriginMemo = { publicUrl: "", origin: "" };

/** The origin of latchkey's public URL (remembered: it is asked on every request and changes only at start). */
function ownOrigin(publicUrl: string): string {
  if (ownOriginMemo.publicUrl !== publicUrl) ownOriginMemo = { publicUrl, origin: new URL(publicUrl).origin };
  return ownOriginMemo.origin;
}

function needsRootKey(): AppError {
  return new AppError("SCOPE_NOT_GRANTED", {
    message: "This operation needs the root key.",
    details: [{ path: "credential", message: "root" }],
  });
}
