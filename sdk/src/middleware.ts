/**
 * What every framework's middleware does, once: read the credential from the incoming request, ask latchkey (or
 * verify a session token offline), and turn the answer into an outcome the adapter applies — the identity and
 * latchkey's rate-limit headers when allowed, or latchkey's own status, error body and headers when refused.
 *
 * latchkey unreachable (or answering 5xx) is a refusal too: 503 `UNAVAILABLE`, fail closed. `failOpen: "read-only"`
 * lets GET, HEAD and OPTIONS through without an identity instead; nothing that writes ever is.
 */
import { type ErrorBody, LatchkeyError, unavailable } from "./errors.ts";
import { createTokenVerifier, type TokenVerifier } from "./tokens.ts";
import { type Fetch, Transport } from "./transport.ts";

export interface MiddlewareOptions {
  /** latchkey's URL. */
  baseUrl: string;
  /** Scopes every request through this middleware needs (all of them). */
  scopes?: string[];
  /** A header carrying a bare API key (e.g. `x-api-key`), read when there is no `Authorization: Bearer`. */
  apiKeyHeader?: string;
  /**
   * Session tokens (`X-Session-Token`): "remote" (default) asks latchkey, which sees a revocation at once and spends
   * the parent key's bucket; "offline" verifies them here against the JWKS (no call per request; a revocation is
   * seen only at `exp`; no rate limit). API keys are always asked of latchkey.
   */
  tokens?: "remote" | "offline";
  /** Your project's id: required for `tokens: "offline"` (the tokens' audience); sent as X-Project-Id otherwise. */
  projectId?: string;
  /**
   * The tokens' issuer, for `tokens: "offline"`: latchkey's public URL. By default it is read once from latchkey's
   * discovery document (`<baseUrl>/.well-known/openid-configuration`).
   */
  issuer?: string;
  /** When latchkey cannot be reached: "closed" (default, 503) or "read-only" (GET/HEAD/OPTIONS pass, no identity). */
  failOpen?: "closed" | "read-only";
  /** How long one check may take before the request is refused as unavailable (default 2,000 ms). */
  timeoutMs?: number;
  fetch?: Fetch;
}

/** Who made the request, attached by every middleware (`req.latchkey`, `c.get("latchkey")`, `latchkeyOf(request)`). */
export interface LatchkeyIdentity {
  keyId: string;
  projectId: string;
  /** Null for a token verified offline (tokens do not carry it). */
  tenantId: string | null;
  /** The end user (a key's owner, a token's subject), or the key id when the key has no owner. */
  subject: string;
  scopes: string[];
  /** "key" or "token": what the request presented. */
  credential: "key" | "token";
}

/** The request as the middleware needs it, whatever the framework. */
export interface IncomingRequest {
  method: string;
  header(name: string): string | undefined;
}

/** Allowed: the identity and the rate-limit headers for the app's response. Refused: the whole answer to send. */
export type Outcome =
  | { allowed: true; identity: LatchkeyIdentity | null; headers: Record<string, string> }
  | { allowed: false; status: number; body: ErrorBody; headers: Record<string, string> };

/** Headers of latchkey's answer the app's response carries, allowed or refused. */
const RELAYED_HEADERS = [
  "x-ratelimit-limit",
  "x-ratelimit-remaining",
  "x-ratelimit-reset",
  "ratelimit-policy",
  "ratelimit",
  "retry-after",
  "www-authenticate",
];
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
const REFUSAL_BODY_HEADERS = { "content-type": "application/json", "cache-control": "no-store" };

interface AuthorizationAnswer {
  key_id: string;
  project_id: string;
  tenant_id: string;
  subject: string;
  scopes: string[];
}

/** Builds the check once per middleware: its transport and, for offline tokens, its verifier and JWKS cache. */
export function createCheck(options: MiddlewareOptions): (request: IncomingRequest) => Promise<Outcome> {
  const transport = new Transport({
    baseUrl: options.baseUrl,
    timeoutMs: options.timeoutMs ?? 2_000,
    retries: 0,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const tokens = options.tokens ?? "remote";
  if (tokens !== "remote" && tokens !== "offline") throw new TypeError('tokens must be "remote" or "offline"');
  let verifier: TokenVerifier | undefined;
  if (tokens === "offline") {
    if (!options.projectId) throw new TypeError('tokens: "offline" needs projectId (the tokens\' audience)');
    verifier = createTokenVerifier({
      baseUrl: transport.baseUrl,
      audience: options.projectId,
      ...(options.issuer ? { issuer: options.issuer } : {}),
    });
  }
  const scopes = options.scopes ?? [];
  const apiKeyHeader = options.apiKeyHeader?.toLowerCase();

  return async (request) => {
    const method = request.method.toUpperCase();
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(request.header("authorization") ?? "")?.[1];
    const key = bearer ?? (apiKeyHeader ? request.header(apiKeyHeader)?.trim() || undefined : undefined);
    const token = request.header("x-session-token")?.trim() || undefined;
    const origin = request.header("origin");
    let outcome: Outcome;
    try {
      outcome =
        verifier && token && !key
          ? await offline(verifier, token, scopes, origin)
          : await remote(transport, { method, key, token, origin, scopes, projectId: options.projectId });
    } catch (error) {
      outcome = refusal(error instanceof LatchkeyError ? error : unavailable("unexpected failure"));
    }
    if (outcome.allowed) return outcome;
    if (outcome.status === 503 && options.failOpen === "read-only" && SAFE_METHODS.has(method)) {
      return { allowed: true, identity: null, headers: {} };
    }
    // The refusal is answered by the middleware itself: the headers of its JSON body come with it.
    Object.assign(outcome.headers, REFUSAL_BODY_HEADERS);
    return outcome;
  };
}

async function remote(
  transport: Transport,
  request: {
    method: string;
    key: string | undefined;
    token: string | undefined;
    origin: string | undefined;
    scopes: string[];
    projectId: string | undefined;
  },
): Promise<Outcome> {
  const answer = await transport.send<AuthorizationAnswer | ErrorBody>("GET", "/v1/authz", {
    query: request.scopes.length > 0 ? { scopes: request.scopes.join(",") } : {},
    headers: {
      ...(request.key ? { authorization: `Bearer ${request.key}` } : {}),
      "x-session-token": request.token,
      origin: request.origin,
      "x-project-id": request.projectId,
      // A GET is what /v1/authz assumes; any other method is said, so a browser's write meets the browser rule.
      ...(request.method === "GET" ? {} : { "x-forwarded-method": request.method }),
    },
  });
  const headers = relayed(answer.headers);
  if (answer.status === 200) {
    const body = answer.body as AuthorizationAnswer;
    const identity: LatchkeyIdentity = {
      keyId: body.key_id,
      projectId: body.project_id,
      tenantId: body.tenant_id,
      subject: body.subject,
      scopes: body.scopes,
      credential: request.token ? "token" : "key",
    };
    return { allowed: true, identity, headers };
  }
  if (answer.status >= 400 && answer.status < 500 && isErrorBody(answer.body)) {
    return { allowed: false, status: answer.status, body: answer.body, headers };
  }
  return refusal(unavailable(`latchkey answered ${answer.status}`));
}

async function offline(
  verifier: TokenVerifier,
  token: string,
  scopes: string[],
  origin: string | undefined,
): Promise<Outcome> {
  const claims = await verifier.verify(token);
  if (claims.origin !== undefined && claims.origin !== origin) {
    return refusal(new LatchkeyError("ORIGIN_NOT_ALLOWED", 403, "The request's origin is not allowed."));
  }
  const missing = scopes.filter((scope) => !claims.scp.includes(scope));
  if (missing.length > 0) {
    const details = missing.map((scope) => ({ path: "scopes", message: `missing ${scope}` }));
    return refusal(new LatchkeyError("SCOPE_NOT_GRANTED", 403, "A required scope is not granted.", { details }));
  }
  const identity: LatchkeyIdentity = {
    keyId: claims.key,
    projectId: claims.aud,
    tenantId: null,
    subject: claims.sub,
    scopes: claims.scp,
    credential: "token",
  };
  return { allowed: true, identity, headers: {} };
}

function refusal(error: LatchkeyError): Outcome {
  const headers: Record<string, string> = {};
  if (error.status === 401) headers["www-authenticate"] = "Bearer";
  if (error.status === 503 || error.retryAfterSeconds !== null) {
    headers["retry-after"] = String(error.retryAfterSeconds ?? 1);
  }
  return { allowed: false, status: error.status, body: error.toBody(), headers };
}

/** A Node request's header (express, fastify), repeated ones joined as Fetch's Headers would join them. */
export function nodeHeader(headers: Record<string, string | string[] | undefined>) {
  return (name: string): string | undefined => {
    const value = headers[name];
    return Array.isArray(value) ? value.join(", ") : value;
  };
}

function relayed(headers: Headers): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const name of RELAYED_HEADERS) {
    const value = headers.get(name);
    if (value !== null) picked[name] = value;
  }
  return picked;
}

function isErrorBody(body: unknown): body is ErrorBody {
  const error = (body as { error?: unknown } | null)?.error;
  return typeof error === "object" && error !== null && typeof (error as { code?: unknown }).code === "string";
}
