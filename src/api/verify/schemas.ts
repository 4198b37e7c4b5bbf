/** Wire shapes of verification and forward-auth, written by hand like every feature's. */
import { z } from "zod";
import { MAX_SCOPE_QUERY_LENGTH, parseScopeQuery } from "../../domain/keys/scope-query.ts";
import { MAX_SCOPE_LENGTH, MAX_SCOPES_PER_KEY, SCOPE_PATTERN } from "../../domain/keys/scopes.ts";
import { MAX_SESSION_TOKEN_LENGTH } from "../../domain/sessions/tokens.ts";
import { CatalogueCode, IsoDateTime, RefusalDetail } from "../../http/wire.ts";
import { isAddress } from "../../lib/address-ranges.ts";
import { KeyMetaValue, Scope } from "../keys/schemas.ts";

/**
 * A scope query (`runs:read AND (runs:write OR billing:admin)`), parsed; a malformed one is refused naming the
 * character position where it went wrong.
 */
export const ScopeQueryText = z
  .string()
  .max(MAX_SCOPE_QUERY_LENGTH, { message: `must be at most ${MAX_SCOPE_QUERY_LENGTH} characters` })
  .transform((text, context) => {
    const parsed = parseScopeQuery(text);
    if (parsed.ok) return parsed.query;
    context.addIssue({ code: "custom", message: `${parsed.message} (at character ${parsed.position})` });
    return z.NEVER;
  })
  .describe("Scopes the request needs as an expression: AND, OR (AND binds tighter) and parentheses.");

export const VerifyBody = z
  .strictObject({
    key: z.string().min(1).max(4096).optional().describe("An API key to check."),
    token: z
      .string()
      .min(1)
      .max(MAX_SESSION_TOKEN_LENGTH * 2)
      .optional()
      .describe("Or a session token to check."),
    scopes: z.array(Scope).max(MAX_SCOPES_PER_KEY).optional().describe("Scopes the request needs; all must be held."),
    scope_query: ScopeQueryText.optional(),
    origin: z.string().max(2048).optional().describe("The browser Origin the credential was presented from, if any."),
    ip: z
      .string()
      .max(64)
      .refine(isAddress, { message: "must be an IPv4 or IPv6 address" })
      .optional()
      .describe("The client address the host API saw; a key with an ip_allowlist is refused without it."),
  })
  .refine((body) => (body.key === undefined) !== (body.token === undefined), {
    message: "send exactly one of key or token",
    path: ["key"],
  });
export type VerifyBody = z.infer<typeof VerifyBody>;

const RateLimitState = z
  .object({
    limit: z.number().int(),
    remaining: z.number().int(),
    reset: z.number().int().describe("Unix milliseconds at which the bucket is full again."),
  })
  .meta({ id: "RateLimitState" });

export const VerifyResult = z
  .object({
    valid: z.boolean(),
    code: z.union([z.literal("VALID"), CatalogueCode]),
    key_id: z.string().nullable(),
    project_id: z.string().nullable(),
    tenant_id: z.string().nullable(),
    owner: z.string().nullable().describe("The key's owner; for a session token, its end user (sub)."),
    meta: KeyMetaValue.nullable().describe("The key's metadata (a session token's parent key's); null for none."),
    scopes: z.array(z.string()),
    expires_at: IsoDateTime.nullable(),
    ratelimit: RateLimitState.nullable(),
    details: z
      .array(RefusalDetail)
      .describe("What the refusal is about, as in error bodies: e.g. each missing scope for SCOPE_NOT_GRANTED."),
  })
  .meta({ id: "VerifyResult" });

// Elysia hands a comma-separated or repeated query value over as an array, a single one as a string: take both.
const SCOPE_LIST_TEXT_MAX = MAX_SCOPES_PER_KEY * (MAX_SCOPE_LENGTH + 1);
const ScopesParameter = z.union([
  z.string().max(SCOPE_LIST_TEXT_MAX),
  z.array(z.string().max(SCOPE_LIST_TEXT_MAX)).max(MAX_SCOPES_PER_KEY),
]);

/**
 * The scope list of a forward-auth request. This runs on every proxied request, so the check is the scope pattern
 * itself rather than a schema per item; the messages are the ones the Scope schema gives.
 */
function parseScopeList(value: string | string[] | undefined, context: z.RefinementCtx): string[] {
  const scopes: string[] = [];
  const parts = typeof value === "string" ? [value] : (value ?? []);
  for (const part of parts) {
    for (const raw of part.split(",")) {
      const scope = raw.trim();
      if (scope !== "") scopes.push(scope);
    }
  }
  if (scopes.length > MAX_SCOPES_PER_KEY) {
    context.addIssue({ code: "custom", message: `must list at most ${MAX_SCOPES_PER_KEY} scopes` });
  }
  scopes.forEach((scope, index) => {
    if (scope.length > MAX_SCOPE_LENGTH || scope.includes("*") || !SCOPE_PATTERN.test(scope)) {
      context.addIssue({ code: "custom", path: [index], message: Scope.safeParse(scope).error!.issues[0]!.message });
    }
  });
  return scopes;
}

export const AuthzQuery = z.object({
  scopes: ScopesParameter.optional()
    .describe("Comma-separated scopes the request needs, e.g. runs:read,runs:write.")
    .transform(parseScopeList),
  scope_query: ScopeQueryText.optional(),
});

export const Authorization = z
  .object({
    object: z.literal("authorization"),
    allowed: z.literal(true),
    key_id: z.string(),
    project_id: z.string(),
    tenant_id: z.string(),
    subject: z.string(),
    scopes: z.array(z.string()),
  })
  .meta({ id: "Authorization" });
