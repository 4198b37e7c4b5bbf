/** Wire shapes of session tokens, the JWKS and signing keys. */
import { z } from "zod";
import { MAX_SCOPES_PER_KEY } from "../../domain/keys/scopes.ts";
import { MAX_ACTIVATION_LEAD_SECONDS } from "../../domain/sessions/activation-lead.ts";
import { IsoDateTime } from "../../http/wire.ts";
import { integerFrom } from "../../lib/validation.ts";
import { Owner, Scope } from "../keys/schemas.ts";

const SessionScopes = z
  .array(Scope)
  .max(MAX_SCOPES_PER_KEY, { message: `must list at most ${MAX_SCOPES_PER_KEY} scopes` });

export const CreateSessionBody = z.strictObject({
  user_id: Owner.describe("The end user the token is for (its `sub`)."),
  scopes: SessionScopes.optional().describe(
    "A subset of the key's scopes; default: the key's `*:read` scopes but keys:read (management scopes only by name).",
  ),
});

export const Session = z
  .object({
    object: z.literal("session"),
    token: z.string().describe("Send it as X-Session-Token. Not stored by latchkey."),
    expires_at: IsoDateTime,
    scopes: z.array(z.string()),
  })
  .meta({ id: "Session" });

export const CreateBrowserSessionBody = z.strictObject({
  scopes: SessionScopes.optional().describe(
    "A subset of the key's scopes; default: all of them but keys:read, keys:write and cli:approve (only by name).",
  ),
});

export const BrowserSession = z
  .object({ data: z.object({ sessionToken: z.string(), expiresAt: IsoDateTime }) })
  .meta({ id: "BrowserSession" });

export const Jwks = z
  .object({
    keys: z.array(
      z.object({ kty: z.string(), crv: z.string(), x: z.string(), kid: z.string(), alg: z.string(), use: z.string() }),
    ),
  })
  .meta({ id: "Jwks" });

/**
 * Where a verifier finds what it pins, in the shape of OpenID Connect Discovery (and RFC 8414): the issuer every
 * token carries, the JWKS, and the device grant's endpoints. latchkey issues no ID tokens; only these fields are said.
 */
export const Discovery = z
  .object({
    issuer: z.string().describe("The `iss` of every session token: latchkey's public URL (LATCHKEY_PUBLIC_URL)."),
    jwks_uri: z.string().describe("The public keys that verify session tokens."),
    device_authorization_endpoint: z.string().describe("RFC 8628 device authorization."),
    token_endpoint: z.string().describe("RFC 8628 token request."),
    grant_types_supported: z.array(z.string()),
    token_endpoint_auth_methods_supported: z.array(z.string()).describe("`none`: the client_id is the project id."),
  })
  .meta({ id: "Discovery" });

export const SigningKey = z
  .object({
    kid: z.string(),
    object: z.literal("signing_key"),
    status: z.enum(["pending", "active", "retired"]),
    activates_at: IsoDateTime,
    retires_at: IsoDateTime.nullable().describe("When the next key takes over signing."),
    unpublished_at: IsoDateTime.nullable().describe("When it leaves the JWKS (every token it signed has expired)."),
  })
  .meta({ id: "SigningKey" });

export const RotateSigningKeyBody = z.strictObject({
  activate_in_seconds: integerFrom(0, MAX_ACTIVATION_LEAD_SECONDS)
    .default(60)
    .describe("Seconds the new key is published before it signs, so verifiers caching the JWKS see it first."),
});
