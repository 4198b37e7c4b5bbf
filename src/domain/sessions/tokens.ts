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
import { type KeyObject, verify } from "node:crypto";
import { SignJWT } from "jose";
import { z } from "zod";
import { decodeCanonicalBase64Url } from "../../lib/crypto.ts";
import { AppError } from "../../lib/errors.ts";
import { idPattern, newId } from "../../lib/ids.ts";
import { MAX_SCOPES_PER_KEY, SCOPE_PATTERN } from "../keys/scopes.ts";
import { MAX_TOKEN_LIFETIME_SECONDS, SIGNING_ALGORITHM, type SigningKeyRing } from "./signing-keys.ts";

export const SESSION_TOKEN_TYPE = "lk-session+jwt";
export const MAX_SESSION_TOKEN_LENGTH = 8192;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export const SessionClaims = z.object({
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

/** The refusal of a token that was not minted here, or was changed since: each a new error, never a shared one. */
const invalid = () => new AppError("SESSION_INVALID");
const SIGNING_KEY_ID = idPattern("signingKey");
const PROJECT_ID = idPattern("project");
/** Every claim a session token carries; a token missing any of them was not minted here. */
const REQUIRED_CLAIMS = ["iss", "aud", "iat", "sub", "jti", "exp", "key", "kv", "scp"] as const;
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The signature is checked with node:crypto (Ed25519 through a key object made once per kid: about half the cost of
 * jose's WebCrypto verify, and a token's first use is mostly this); the header and claims rules are written out
 * here, once, in the order jose applies them, so every refusal keeps its code. jose still signs.
 */
export async function checkSessionToken(
  ring: SigningKeyRing,
  issuer: string,
  token: string,
  nowMilliseconds: number,
): Promise<SessionClaims | AppError> {
  if (token.length > MAX_SESSION_TOKEN_LENGTH || !COMPACT_JWS.test(token)) return invalid();
  const [encodedHeader, encodedPayload, encodedSignature] = token.split(".") as [string, string, string];
  // The signature's spare bits are not signed: another spelling of a genuine token would verify, as another string.
  const signature = decodeCanonicalBase64Url(encodedSignature);
  const header = decodeJsonObject(encodedHeader);
  const payload = decodeJsonObject(encodedPayload);
  if (signature === undefined || header === undefined || payload === undefined) return invalid();
  // No extension is understood, so none may be declared critical (RFC 7515 §4.1.11); `jwk`, `jku`, `x5u` are ignored.
  if (header.alg !== SIGNING_ALGORITHM || header.typ !== SESSION_TOKEN_TYPE || "crit" in header) return invalid();
  const { kid } = header;
  if (typeof kid !== "string" || !SIGNING_KEY_ID.test(kid)) return invalid();
  if (typeof payload.aud !== "string" || !PROJECT_ID.test(payload.aud)) return invalid();
  const key = await ring.verificationKey(kid, nowMilliseconds);
  if (!key || !signatureHolds(key, `${encodedHeader}.${encodedPayload}`, signature)) return invalid();
  const refusal = refusedClaims(payload, issuer, Math.floor(nowMilliseconds / 1000));
  if (refusal) return refusal;
  const claims = SessionClaims.safeParse(payload);
  return claims.success ? claims.data : invalid();
}

/**
 * The time and identity rules for claims whose signature held, in jose's order (presence, iss, aud, nbf, exp, age):
 * a token is only "expired" once its signature has proved it genuine and it names this issuer and its audience.
 */
export function refusedClaims(payload: Record<string, unknown>, issuer: string, nowSeconds: number): AppError | null {
  if (!REQUIRED_CLAIMS.every((claim) => Object.hasOwn(payload, claim))) return invalid();
  if (payload.iss !== issuer || typeof payload.aud !== "string") return invalid();
  const { iat, nbf, exp } = payload;
  if (typeof iat !== "number" || typeof exp !== "number") return invalid();
  if (nbf !== undefined && (typeof nbf !== "number" || nbf > nowSeconds)) return invalid();
  if (exp <= nowSeconds) return new AppError("SESSION_EXPIRED");
  const ageSeconds = nowSeconds - iat;
  if (ageSeconds > MAX_TOKEN_LIFETIME_SECONDS || ageSeconds < 0) return invalid();
  return null;
}

function signatureHolds(key: KeyObject, signingInput: string, signature: Uint8Array): boolean {
  try {
    return verify(null, Buffer.from(signingInput, "latin1"), key, signature);
  } catch {
    return false;
  }
}

/** A part's JSON object, if the part is canonical base64url of strict UTF-8 JSON whose top level is an object. */
function decodeJsonObject(encoded: string): Record<string, unknown> | undefined {
  const bytes = decodeCanonicalBase64Url(encoded);
  if (bytes === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(strictUtf8.decode(bytes));
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
