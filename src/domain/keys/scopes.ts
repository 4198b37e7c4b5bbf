/**
 * Scopes are flat `resource:action` strings: lower case, no wildcards, at most 64 per key. latchkey's own
 * operations use reserved scopes. A credential can only hand out scopes it holds; the root key holds everything.
 */
export const SCOPE_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,63}:[a-z0-9][a-z0-9_.-]{0,63}$/;
/** The longest text SCOPE_PATTERN admits: two parts of 64 characters and the colon. */
export const MAX_SCOPE_LENGTH = 129;
export const MAX_SCOPES_PER_KEY = 64;

export const RESERVED_SCOPES = {
  keysRead: "keys:read",
  keysWrite: "keys:write",
  cliApprove: "cli:approve",
} as const;

const MANAGEMENT_SCOPES: ReadonlySet<string> = new Set(Object.values(RESERVED_SCOPES));

/**
 * Whether a scope is one of latchkey's own (keys:read, keys:write, cli:approve). A session token carries these only
 * when they are asked for by name, never by default: a token lives in a page or a client, where an injected script
 * could otherwise turn its hour into a permanent key or approve logins in its user's name.
 */
export function isManagementScope(scope: string): boolean {
  return MANAGEMENT_SCOPES.has(scope);
}

/** The scopes a credential lacks to grant `requested`; empty for the root key, which may grant anything. */
export function scopesBeyondGrantor(
  grantor: { isRoot: boolean; scopes: readonly string[] },
  requested: readonly string[],
): string[] {
  if (grantor.isRoot) return [];
  return requested.filter((scope) => !grantor.scopes.includes(scope));
}
