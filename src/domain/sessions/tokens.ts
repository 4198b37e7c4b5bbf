/**
 * Session tokens: EdDSA (Ed25519) JWTs, never stored.
 *
 *   header  {alg: "EdDSA", typ: "lk-session+jwt", kid}
 *   claims  iss (public URL), aud (project id), sub (end user, or the key id on the browser channel),
 *           key (parent key id), kv (which secret of the parent minted it), scp (scopes), origin (browser channel),
 *           jti, iat, exp
 *
 * Verification pins everything: algorithm, issuer, audience, typ, maximum age, the kid's shape and publication.
 * Keys are only ever taken from our own ring: a `jwk`, `jku` or `x5u` in the header is never consulted, and JWE
 * input is not a JWS at all. Each part must be its bytes' canonical base64url: a token is exactly one string.
 * Anything wrong is SESSION_INVALID; only a genuine token past `exp` is SESSION_EXPIRED.
 */
import { decodeJwt, decodeProtectedHeader, jwtVerify, SignJWT } from "jose";
import { z } from "zod";
import { isCanonicalBase64Url } from "../../lib/crypto.ts";
import { idPattern, newId } from "../../lib/ids.ts";
import { MAX_SCOPES_PER_KEY, SCOPE_PATTERN } from "../keys/scopes.ts";
import { MAX_TOKEN_LIFETIME_SECONDS, SIGNING_ALGORITHM, type SigningKeyRing } from "./signing-keys.ts";

const SESSION_TOKEN_TYPE = "lk-session+jwt";
export const MAX_SESSION_TOKEN_LENGTH = 8192;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

const SessionClaims = z.object({
  iss: z.string(),
  aud: z.string().regex(idPattern("project")),
  sub: z.string().min(1).max(256),
  key: z.string().regex(idPattern("apiKey")),
  kv: z.string().regex(/^[0-9a-f]{16}$/),
  scp: z.array(z.string().regex(SCOPE_PATTERN)).max(MAX_SCOPES_PER_KEY),
  origin: z.string().max(2048).optional(),
  jti: z.string().regex(idPattern("session")),
  iat: z.number().int(),
  exp: z.number().int(),
});

export type SessionClaims = z.output<typeof SessionClaims>;

export interface TokenRequest {
  projectId: string;
  subject: string;
  parentKeyId: string;
  parentSecretVersion: string;
  scopes: string[];
  origin?: string;
  lifetimeSeconds: number;
  /** When the parent credential stops working (null: never); the token never outlives it, even offline. */
  notAfterMs: number | null;
}

export async function signSessionToken(
  ring: SigningKeyRing,
  issuer: string,
  request: TokenRequest,
  nowMilliseconds: number,
): Promise<{ token: string; expiresAtMs: number; tokenId: string }> {
  const signer = await ring.signer(nowMilliseconds);
  const issuedAtSeconds = Math.floor(nowMilliseconds / 1000);
  const lifetimeEndSeconds = issuedAtSeconds + request.lifetimeSeconds;
  const expiresAtSeconds =
    request.notAfterMs === null
      ? lifetimeEndSeconds
      : Math.min(lifetimeEndSeconds, Math.floor(request.notAfterMs / 1000));
  const tokenId = newId("session", nowMilliseconds);
  const token = await new SignJWT({
    key: request.parentKeyId,
    kv: request.parentSecretVersion,
    scp: request.scopes,
    ...(request.origin === undefined ? {} : { origin: request.origin }),
  })
    .setProtectedHeader({ alg: SIGNING_ALGORITHM, typ: SESSION_TOKEN_TYPE, kid: signer.kid })
    .setIssuer(issuer)
    .setAudience(request.projectId)
    .setSubject(request.subject)
    .setJti(tokenId)
    .setIssuedAt(issuedAtSeconds)
    .setExpirationTime(expiresAtSeconds)
    .sign(signer.key);
  return { token, expiresAtMs: expiresAtSeconds * 1000, tokenId };
}

export type TokenCheck =
  | { ok: true; claims: SessionClaims }
  | { ok: false; code: "SESSION_INVALID" | "SESSION_EXPIRED" };

const INVALID: TokenCheck = { ok: false, code: "SESSION_INVALID" };

export async function checkSessionToken(
  ring: SigningKeyRing,
  issuer: string,
  token: string,
  nowMilliseconds: number,
): Promise<TokenCheck> {
  if (token.length > MAX_SESSION_TOKEN_LENGTH || !COMPACT_JWS.test(token)) return INVALID;
  // The signature's spare bits are not signed: another spelling of a genuine token would verify, as another string.
  if (!token.split(".").every(isCanonicalBase64Url)) return INVALID;
  let kid: string | undefined;
  let audience: unknown;
  try {
    const header = decodeProtectedHeader(token);
    if (header.alg !== SIGNING_ALGORITHM || header.typ !== SESSION_TOKEN_TYPE) return INVALID;
    kid = header.kid;
    audience = decodeJwt(token).aud;
  } catch {
    return INVALID;
  }
  if (typeof kid !== "string" || !idPattern("signingKey").test(kid)) return INVALID;
  if (typeof audience !== "string" || !idPattern("project").test(audience)) return INVALID;
  const key = await ring.verificationKey(kid, nowMilliseconds);
  if (!key) return INVALID;
  try {
    const { payload } = await jwtVerify(token, key, {
      algorithms: [SIGNING_ALGORITHM],
      issuer,
      audience,
      typ: SESSION_TOKEN_TYPE,
      maxTokenAge: MAX_TOKEN_LIFETIME_SECONDS,
      currentDate: new Date(nowMilliseconds),
      requiredClaims: ["sub", "jti", "exp", "iat", "key", "kv", "scp"],
    });
    const claims = SessionClaims.safeParse(payload);
    return claims.success ? { ok: true, claims: claims.data } : INVALID;
  } catch (error) {
    // A token past `exp` is only "expired" once its signature has proved it genuine; jose checks that first. Its
    // errors are told apart by their documented, stable `code`, not by class.
    const { code, claim } = error as { code?: string; claim?: string };
    if (code === "ERR_JWT_EXPIRED" && claim === "exp") return { ok: false, code: "SESSION_EXPIRED" };
    return INVALID;
  }
}
