/**
 * Credential → principal for a route row. Reads `Authorization: Bearer <key>` and, when sent, `X-Project-Id` (a key of
 * any other project is then refused as invalid, exactly like an unknown key, so nothing reveals that it exists).
 */
import type { AppDeps } from "../deps.ts";
import { AppError } from "../errors.ts";
import { authenticateKey, type KeyPrincipal } from "../verify/service.ts";
import type { AnyRoute } from "./route.ts";

/** The bearer credential, or null when the request carries none (no header, another scheme, or an empty value). */
export function bearerCredential(headers: Headers): string | null {
  const header = headers.get("authorization");
  if (header === null) return null;
  const match = /^Bearer(?:[ \t]+(.*))?$/i.exec(header);
  return match ? (match[1] ?? "").trim() : null;
}

export function authenticateRequest(
  deps: AppDeps,
  spec: Pick<AnyRoute, "credential" | "module" | "scopes">,
  headers: Headers,
  nowMilliseconds: number,
): KeyPrincipal {
  const secret = bearerCredential(headers);
  if (secret === null || secret === "") throw new AppError("API_KEY_REQUIRED");
  const projectId = headers.get("x-project-id") ?? undefined;
  const authentication = authenticateKey(
    deps.db,
    secret,
    { module: spec.module, scopes: spec.scopes, projectId },
    nowMilliseconds,
  );
  if (!authentication.ok) throw new AppError(authentication.code, { details: authentication.details });
  if (spec.credential === "root" && !authentication.principal.isRoot) {
    throw new AppError("SCOPE_NOT_GRANTED", {
      message: "This operation needs the root key.",
      details: [{ path: "credential", message: "root" }],
    });
  }
  return authentication.principal;
}
