/**
 * The fast lane of the two hot routes, GET /v1/authz and POST /v1/keys/verify: the common case (a credential memory
 * holds, allowed or out of tokens) answered without the framework's per-request lifecycle, with exactly the answer the
 * full pipeline gives (test/verify/fast-lane.test.ts compares the two). It accelerates those route rows; it is not a
 * second route: anything it does not recognise at once (another header that matters, an unusual query or body, a
 * credential memory does not hold, any other refusal) is handed to the full pipeline, which then decides everything
 * from the start. It decides with the functions the pipeline uses (the credential cache, the decision, the bucket,
 * the answer and error builders), so the two cannot drift apart.
 *
 * What the full pipeline does per request and this lane skips: the framework's context, routing and hooks; zod
 * validation of the input and of the response (the contract tests and fuzzers check every answer against the
 * document); working out the client's address unless some address may be throttled (see FailureWatch).
 */
import { admit, NO_REQUEST_METHOD, type WarmAdmission } from "../../auth/admission.ts";
import { bearerSecretOf } from "../../auth/authenticate.ts";
import type { Principal } from "../../auth/principal.ts";
import type { BucketDecision } from "../../domain/ratelimit/bucket.ts";
import { BUCKET_KINDS } from "../../domain/ratelimit/buckets.ts";
import { rateLimitDecisionHeaders, rateLimitPolicyHeaders } from "../../domain/ratelimit/headers.ts";
import type { AppDeps } from "../../http/app-deps.ts";
import { clientAddress } from "../../http/client-ip.ts";
import { answerError } from "../../http/error-edge.ts";
import {
  ANSWER_HEADERS,
  carrySocketAddress,
  recordFinished,
  requestIdOf,
  type SocketServer,
  socketAddressOf,
} from "../../http/request-state.ts";
import {
  authorizationOf,
  DATA_PLANE,
  identityHeaders,
  METHOD_HEADERS,
  REQUIRED_SCOPES_HEADER,
  SCOPE_QUERY_HEADER,
} from "./forward-auth.ts";
import { verificationAdmissionOf, verificationOf } from "./routes.ts";
import { AuthzQuery, VerifyBody } from "./schemas.ts";

export const AUTHZ_PATH = "/v1/authz";
export const VERIFY_PATH = "/v1/keys/verify";

/** Request headers that change the decision or the answer: when one is present, the full pipeline decides. */
const AUTHZ_HEADERS_FOR_THE_PIPELINE = [
  "x-project-id",
  "origin",
  REQUIRED_SCOPES_HEADER,
  SCOPE_QUERY_HEADER,
  ...METHOD_HEADERS,
  "content-length",
  "transfer-encoding",
] as const;
/** A verification body larger than this is the pipeline's (it has its own limit and error). */
const FAST_VERIFY_BODY_BYTES = 4096;
const JSON_MEDIA_TYPE = /^application\/json\s*(?:;\s*charset=utf-8\s*)?$/i;

/** A warm answer, or null for the pipeline to answer (or a promise of either). */
type WarmAnswer = Response | null | Promise<Response | null>;

/** The answer to a warm, allowed GET /v1/authz; null when the full pipeline must answer (or a promise of either). */
export function warmAuthorization(deps: AppDeps, request: Request, server: SocketServer | null): WarmAnswer {
  if (!deps.settings.fastLane || !deps.status.ready || request.method !== "GET") return null;
  const startedAt = performance.now();
  const headers = request.headers;
  for (const name of AUTHZ_HEADERS_FOR_THE_PIPELINE) if (headers.has(name)) return null;
  const scopes = requiredScopesOf(request.url);
  if (scopes === null) return null;
  const nowMilliseconds = deps.clock.nowMilliseconds();
  const admitting = admit(
    deps,
    { ...DATA_PLANE, scopes },
    {
      // Neither Origin nor a method header is present (checked above), so the browser rule has nothing to judge.
      method: NO_REQUEST_METHOD,
      // Origin and X-Project-Id are absent (checked above): the credentials are the bearer's and the token's.
      presented: {
        secret: bearerSecretOf(headers.get("authorization")),
        sessionToken: headers.get("x-session-token"),
        origin: null,
        projectId: null,
      },
      clientIp: () =>
        clientAddress(socketAddressOf(server, request), headers.get("x-forwarded-for"), deps.settings.trustedProxies),
    },
    nowMilliseconds,
    true,
  );
  return answered(deps, admitting, (admission) => {
    const requestId = requestIdOf(request);
    const { principal, bucket } = admission;
    const parts = fixedPartsOf(principal);
    if (admission.refusal !== null) {
      // As forward-auth refuses: the error envelope, and X-Latchkey-Error for a proxy that drops the body.
      const refusal = answerError(admission.refusal, requestId);
      deps.metrics.recordVerification(admission.refusal.code);
      deps.metrics.rateLimited++;
      recordFinished(deps, "GET", AUTHZ_PATH, refusal.status, startedAt, requestId);
      const body = JSON.stringify(refusal.body);
      const response = answer(body, refusal.status, parts.headers, requestId, bucket.decision, nowMilliseconds);
      for (const [name, value] of Object.entries(refusal.headers)) response.headers.set(name, value);
      response.headers.set("x-latchkey-error", admission.refusal.code);
      return response;
    }
    deps.metrics.recordVerification("VALID");
    parts.authorization ??= authorizationAnswerOf(principal, parts.headers);
    recordFinished(deps, "GET", AUTHZ_PATH, 200, startedAt, requestId);
    const { body, headers: fixed } = parts.authorization;
    return answer(body, 200, fixed, requestId, bucket.decision, nowMilliseconds);
  });
}

/**
 * The answer to a warm, valid POST /v1/keys/verify ({key} or {token}, optional scopes); otherwise the request handed
 * to the pipeline (the body is read here, so the pipeline gets a copy carrying it and the client's socket address).
 */
export async function warmVerification(
  deps: AppDeps,
  request: Request,
  server: SocketServer | null,
  pipeline: (request: Request) => Response | Promise<Response>,
): Promise<Response> {
  const headers = request.headers;
  const length = Number(headers.get("content-length") ?? Number.NaN);
  if (
    !deps.settings.fastLane ||
    !deps.status.ready ||
    request.method !== "POST" ||
    !(length > 0 && length <= FAST_VERIFY_BODY_BYTES) ||
    !JSON_MEDIA_TYPE.test(headers.get("content-type") ?? "") ||
    headers.has("x-project-id")
  ) {
    return pipeline(request);
  }
  const startedAt = performance.now();
  const text = await request.text();
  const body = verifyBodyOf(text);
  const nowMilliseconds = deps.clock.nowMilliseconds();
  // X-Project-Id is absent (checked above).
  const verification = body && verificationAdmissionOf(body, null);
  const admitting = verification && admit(deps, verification.spec, verification.request, nowMilliseconds, true);
  const answering =
    admitting &&
    answered(deps, admitting, ({ principal, bucket, refusal }) => {
      // A verification is always 200; a spent bucket is its code, RATE_LIMITED, as the pipeline answers it.
      const code = refusal?.code ?? "VALID";
      deps.metrics.recordVerification(code);
      const requestId = requestIdOf(request);
      const parts = fixedPartsOf(principal);
      recordFinished(deps, "POST", VERIFY_PATH, 200, startedAt, requestId);
      const body = verificationBodyOf(parts, principal, code, bucket.decision);
      return answer(body, 200, parts.headers, requestId, bucket.decision, nowMilliseconds);
    });
  const response = answering instanceof Promise ? await answering : answering;
  if (response) return response;
  const copy = new Request(request.url, { method: "POST", headers, body: text });
  carrySocketAddress(copy, socketAddressOf(server, request));
  return pipeline(copy);
}

/** The answer built from the admission memory decided, or null when it could not and the pipeline must. */
function answered(
  deps: AppDeps,
  admitting: WarmAdmission | Promise<WarmAdmission> | null,
  answer: (admission: WarmAdmission) => Response,
): WarmAnswer {
  if (admitting === null) return null;
  const respond = (admission: WarmAdmission): Response => {
    deps.metrics.fastLaneAnswers++;
    return answer(admission);
  };
  return admitting instanceof Promise ? admitting.then(respond) : respond(admitting);
}

/**
 * What a warm answer says about a principal, but for its per-request fields, never changes (records are replaced,
 * never changed, when their rows change): worked out once per kept principal. Copying a ready Headers and setting four
 * fields costs less than building a Response's headers from an object each time.
 */
interface FixedParts {
  /** The fields every answer for this principal starts with: the constant ones and the rate-limit policy's. */
  headers: Headers;
  /** An allowed authorization's headers (those and the identity headers) and body. */
  authorization?: { headers: Headers; body: string };
  /** A verification's body by code, in two halves around the bucket's figures (see verificationBodyOf). */
  verifications: Map<string, [string, string]>;
}

const fixedParts = new WeakMap<Principal, FixedParts>();

function fixedPartsOf(principal: Principal): FixedParts {
  let parts = fixedParts.get(principal);
  if (parts === undefined) {
    const headers: Record<string, string> = { ...ANSWER_HEADERS, "content-type": "application/json;charset=utf-8" };
    rateLimitPolicyHeaders(BUCKET_KINDS.key, principal.ratelimit, headers);
    parts = { headers: new Headers(headers), verifications: new Map() };
    fixedParts.set(principal, parts);
  }
  return parts;
}

function authorizationAnswerOf(principal: Principal, start: Headers): { headers: Headers; body: string } {
  const headers = new Headers(start);
  for (const [name, value] of Object.entries(identityHeaders(principal))) headers.set(name, value);
  return { headers, body: JSON.stringify(authorizationOf(principal)) };
}

/**
 * The answer with the fixed fields and this request's (its id and the bucket's figures). The Response copies the fixed
 * Headers once; the per-request fields are then set on its own.
 */
function answer(
  body: string,
  status: number,
  fixed: Headers,
  requestId: string,
  decision: BucketDecision,
  nowMilliseconds: number,
): Response {
  const response = new Response(body, { status, headers: fixed });
  response.headers.set("x-request-id", requestId);
  rateLimitDecisionHeaders(BUCKET_KINDS.key, decision, nowMilliseconds, response.headers);
  return response;
}

/**
 * A warm verification's body, as JSON.stringify(verificationOf(…)) writes it: everything but the bucket's figures
 * is the same for a principal and code, so it is serialised once (with the ratelimit field's place kept) and the
 * figures are written between the two halves.
 */
const RATELIMIT_PLACEHOLDER = '"ratelimit":null';

function verificationBodyOf(parts: FixedParts, principal: Principal, code: string, decision: BucketDecision): string {
  let halves = parts.verifications.get(code);
  if (halves === undefined) {
    const whole = JSON.stringify(verificationOf(code, principal, null, []));
    const at = whole.lastIndexOf(RATELIMIT_PLACEHOLDER);
    halves = [whole.slice(0, at), whole.slice(at + RATELIMIT_PLACEHOLDER.length)];
    parts.verifications.set(code, halves);
  }
  const { limit } = principal.ratelimit;
  const rateLimit = `"ratelimit":{"limit":${limit},"remaining":${decision.remaining},"reset":${decision.fullAtMs}}`;
  return halves[0] + rateLimit + halves[1];
}

/**
 * The scopes of `?scopes=a:b,c:d`, or none; null for any other query, or one the schema refuses (the pipeline then
 * answers it, with the schema's message). Only the plain form is read here, so nothing needs decoding; the reading
 * itself is the pipeline's schema (AuthzQuery), run once per distinct query.
 */
function requiredScopesOf(url: string): string[] | null {
  const queryStart = url.indexOf("?");
  if (queryStart < 0) return [];
  const query = url.slice(queryStart + 1);
  if (query === "") return [];
  if (!query.startsWith("scopes=") || query.includes("&") || query.includes("%") || query.includes("+")) return null;
  const known = parsedScopeLists.get(query);
  if (known !== undefined) return known;
  const parsed = AuthzQuery.safeParse({ scopes: query.slice("scopes=".length) });
  if (!parsed.success) return null;
  // A proxy asks with the same few queries again and again; remembering them is bounded by a plain reset.
  if (parsedScopeLists.size >= PARSED_SCOPE_LISTS) parsedScopeLists.clear();
  parsedScopeLists.set(query, parsed.data.scopes);
  return parsed.data.scopes;
}

const PARSED_SCOPE_LISTS = 1024;
const parsedScopeLists = new Map<string, string[]>();

/** The body as the pipeline's schema (VerifyBody) reads it; null for the pipeline to judge (and name what is wrong). */
function verifyBodyOf(text: string): VerifyBody | null {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return null;
  }
  const parsed = VerifyBody.safeParse(body);
  return parsed.success ? parsed.data : null;
}
