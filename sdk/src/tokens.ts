/**
 * Offline verification of latchkey's session tokens: `createTokenVerifier({ baseUrl, audience })`. No call to latchkey
 * per token; the JWKS is fetched once, cached, and fetched again on an unknown `kid` (a rotation) at most once a
 * minute. Every check is pinned: EdDSA only, `typ`, `iss`, `aud`, a maximum age, the claims latchkey always sets.
 *
 * The issuer is latchkey's public URL, which is often not the address a verifier reaches it at (127.0.0.1 beside a
 * sidecar, while tokens say http://localhost:8787 or https://auth.example.com). So unless `issuer` is given, it is
 * read once from latchkey's discovery document (`/.well-known/openid-configuration`) and cached like the JWKS.
 *
 * Offline verification cannot see a revocation before `exp` (tokens live 15 minutes at most by default): for an
 * answer that honours revocation at once, ask latchkey (`client.verify({ token })`, or the middleware's
 * `tokens: "remote"`).
 */
import { createRemoteJWKSet, errors, type JWTPayload, jwtVerify } from "jose";
import { LatchkeyError, unavailable } from "./errors.ts";
import { reasonOf } from "./transport.ts";

const TOKEN_TYPE = "lk-session+jwt";
const ALGORITHM = "EdDSA";
/** latchkey mints no token living longer than a day; one that claims to be older is refused whatever its `exp`. */
const DEFAULT_MAX_TOKEN_AGE_SECONDS = 86_400;
const MAX_TOKEN_LENGTH = 8192;
const DISCOVERY_PATH = "/.well-known/openid-configuration";
const MAX_ISSUER_LENGTH = 2048;

export interface TokenVerifierOptions {
  /** latchkey's URL; the JWKS is `<baseUrl>/.well-known/jwks.json`. */
  baseUrl?: string;
  /** The JWKS URL, where it is not under baseUrl. */
  jwksUrl?: string;
  /**
   * The tokens' `iss`: latchkey's LATCHKEY_PUBLIC_URL, exactly. By default it is read from latchkey's discovery
   * document at `<baseUrl>/.well-known/openid-configuration`, once.
   */
  issuer?: string;
  /** Your project's id (`prj_…`): tokens minted for any other project are refused. */
  audience: string;
  /** Refuse tokens issued longer ago than this, whatever their `exp` (default one day). */
  maxTokenAgeSeconds?: number;
  /** How long fetching the JWKS (or the discovery document) may take (default 5,000 ms). */
  timeoutMs?: number;
  /** The JWKS is fetched again for an unknown `kid` at most this often (default 60,000 ms). */
  jwksCooldownMs?: number;
}

/** What a verified token says. */
export interface TokenClaims extends JWTPayload {
  iss: string;
  /** The project id. */
  aud: string;
  /** The end user (or, on the browser channel, the key id). */
  sub: string;
  /** The parent key's id. */
  key: string;
  /** The scopes the token holds. */
  scp: string[];
  /** The browser origin the token is bound to (browser channel only). */
  origin?: string;
  jti: string;
  iat: number;
  exp: number;
}

export interface TokenVerifier {
  /** The token's claims, or a LatchkeyError: SESSION_INVALID, SESSION_EXPIRED, or UNAVAILABLE (no JWKS). */
  verify(token: string): Promise<TokenClaims>;
}

export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const base = options.baseUrl?.replace(/\/+$/, "");
  const jwksUrl = options.jwksUrl ?? (base ? `${base}/.well-known/jwks.json` : undefined);
  if (!jwksUrl) throw new TypeError("baseUrl or jwksUrl is required");
  if (options.issuer === undefined && !base) throw new TypeError("issuer is required when only jwksUrl is given");
  if (typeof options.audience !== "string" || options.audience === "") throw new TypeError("audience is required");
  const timeoutMs = options.timeoutMs ?? 5_000;
  const keys = createRemoteJWKSet(new URL(jwksUrl), {
    cooldownDuration: options.jwksCooldownMs ?? 60_000,
    cacheMaxAge: Number.POSITIVE_INFINITY,
    timeoutDuration: timeoutMs,
  });
  const maxTokenAge = options.maxTokenAgeSeconds ?? DEFAULT_MAX_TOKEN_AGE_SECONDS;
  // One discovery at a time, kept once it succeeds; a failed one is forgotten, so the next token asks again.
  let issuer: Promise<string> | undefined = options.issuer === undefined ? undefined : Promise.resolve(options.issuer);
  const issuerOf = () => {
    issuer ??= discoverIssuer(`${base}${DISCOVERY_PATH}`, timeoutMs).catch((error: unknown) => {
      issuer = undefined;
      throw error;
    });
    return issuer;
  };

  return {
    async verify(token: string): Promise<TokenClaims> {
      if (typeof token !== "string" || token.length > MAX_TOKEN_LENGTH) {
        throw invalid(new Error(`not a string of at most ${MAX_TOKEN_LENGTH} characters`));
      }
      const expectedIssuer = await issuerOf();
      try {
        const { payload } = await jwtVerify(token, keys, {
          algorithms: [ALGORITHM],
          typ: TOKEN_TYPE,
          issuer: expectedIssuer,
          audience: options.audience,
          maxTokenAge,
          requiredClaims: ["sub", "jti", "exp", "iat", "key", "scp"],
        });
        if (!isSessionClaims(payload)) throw invalid(new Error("the token lacks a claim latchkey always sets"));
        return payload;
      } catch (error) {
        throw refusalOf(error);
      }
    },
  };
}

function isSessionClaims(payload: JWTPayload): payload is TokenClaims {
  const { sub, key, scp, aud } = payload as Record<string, unknown>;
  return (
    typeof sub === "string" &&
    typeof key === "string" &&
    typeof aud === "string" &&
    Array.isArray(scp) &&
    scp.every((scope) => typeof scope === "string")
  );
}

/** The issuer latchkey's discovery document names; UNAVAILABLE when it cannot be had. */
async function discoverIssuer(url: string, timeoutMs: number): Promise<string> {
  let document: unknown;
  try {
    const response = await fetch(url, {
      headers: { accept: "application/json" },
      signal: AbortSignal.timeout(timeoutMs),
      redirect: "manual",
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    document = await response.json();
  } catch (error) {
    throw unavailable(`its discovery document (${url}) could not be read: ${reasonOf(error)}`, error);
  }
  const issuer = (document as { issuer?: unknown } | null)?.issuer;
  if (typeof issuer !== "string" || issuer.length > MAX_ISSUER_LENGTH || !/^https?:\/\//.test(issuer)) {
    throw unavailable(`its discovery document (${url}) names no issuer`);
  }
  return issuer;
}

/** The verifier's answer to a failure; jose's own error, with its `code`, stays on it as `cause`. */
function refusalOf(error: unknown): LatchkeyError {
  if (error instanceof LatchkeyError) return error;
  // A token past `exp` is "expired" only once its signature proved it genuine, which jose checks first.
  if (error instanceof errors.JWTExpired && error.claim === "exp") {
    return new LatchkeyError("SESSION_EXPIRED", 401, "The session token has expired.", { cause: error });
  }
  if (error instanceof errors.JWKSTimeout) return unavailable("the JWKS did not answer in time", error);
  if (error instanceof errors.JOSEError) return invalid(error);
  // Anything else is the JWKS fetch itself failing (network, an answer that is not a key set).
  return unavailable(`the JWKS could not be fetched: ${reasonOf(error)}`, error);
}

function invalid(cause?: unknown): LatchkeyError {
  return new LatchkeyError("SESSION_INVALID", 401, "The session token is not valid.", { cause });
}
