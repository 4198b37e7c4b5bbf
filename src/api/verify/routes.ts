/**
 * "May this request run?" for the host API: POST /v1/keys/verify, JSON, always 200 with the deciding code. It runs
 * the same admission as latchkey's own routes (the documented decision order, the key's bucket, usage batched in
 * memory); forward-auth for proxies is its sibling, in forward-auth.ts.
 */
import {
  type AdmissionRequest,
  admit,
  type BucketAnswer,
  NO_CLIENT_ADDRESS,
  NO_REQUEST_METHOD,
  writeBucketFields,
} from "../../auth/admission.ts";
import type { AccessSpec } from "../../auth/authenticate.ts";
import type { Principal } from "../../auth/principal.ts";
import { RATE_LIMIT_HEADERS, route } from "../../http/route.ts";
import { toIsoStringOrNull } from "../../lib/clock.ts";
import type { ErrorDetail } from "../../lib/errors.ts";
import { DATA_PLANE, forwardAuthRoutes } from "./forward-auth.ts";
import { VerifyBody, VerifyResult } from "./schemas.ts";

/** The answer of POST /v1/keys/verify. */
export function verificationOf(
  code: string,
  principal: Principal | null,
  bucket: BucketAnswer | null,
  details: ErrorDetail[],
) {
  return {
    valid: code === "VALID",
    code,
    key_id: principal?.keyId ?? null,
    project_id: principal?.projectId ?? null,
    tenant_id: principal?.tenantId ?? null,
    owner: principal === null ? null : ownerOf(principal),
    meta: principal?.meta ?? null,
    scopes: principal ? [...principal.scopes] : [],
    expires_at: toIsoStringOrNull(principal?.expiresAtMs ?? null),
    ratelimit:
      bucket === null
        ? null
        : { limit: bucket.policy.limit, remaining: bucket.decision.remaining, reset: bucket.decision.fullAtMs },
    details,
  };
}

/** The key's owner; for a session token, the end user it was minted for. */
function ownerOf(principal: Principal): string | null {
  return principal.kind === "session" ? principal.subject : principal.owner;
}

/**
 * The admission of a verification body, for the route and its fast lane alike. The host API is the caller: its
 * address must not collect its end users' failures. It asks about a credential, not on behalf of one browser request,
 * so there is no method to apply the browser rule to: the host API applies it with its own request's method (`origin`
 * still checks the project's origins). A key's ip_allowlist judges the address the host API saw, which it names in
 * `ip`.
 */
export function verificationAdmissionOf(body: VerifyBody, projectId: string | null) {
  const spec: AccessSpec = { ...DATA_PLANE, scopes: body.scopes, scopeQuery: body.scope_query };
  const request: AdmissionRequest = {
    method: NO_REQUEST_METHOD,
    presented: {
      secret: body.key ?? null,
      sessionToken: body.token ?? null,
      origin: body.origin ?? null,
      projectId,
    },
    clientIp: NO_CLIENT_ADDRESS,
    allowlistAddress: () => body.ip ?? null,
  };
  return { spec, request };
}

export const verifyRoutes = [
  route({
    method: "POST",
    path: "/v1/keys/verify",
    operationId: "verifyCredential",
    summary: "Check an API key or session token for the host API; always 200 with valid and the deciding code.",
    description:
      "The decision order is the documented one; a valid credential spends one token of its key's bucket. " +
      "`code` is VALID or the catalogue code that refused it. Only a malformed request body is a 400. " +
      "Send X-Project-Id to refuse credentials of any other project as API_KEY_INVALID. The root key is refused " +
      "(ROOT_KEY_NOT_ALLOWED): it manages latchkey and is no credential for an API. Refusals of a known credential " +
      "still name it (key_id, scopes, ...) and say why in `details`.",
    tags: ["verify"],
    credential: "none",
    headers: ["X-Project-Id"],
    body: VerifyBody,
    responses: { 200: VerifyResult },
    answerHeaders: { 200: RATE_LIMIT_HEADERS },
    handle: async ({ deps, body, request, nowMilliseconds, responseHeaders }) => {
      const verification = verificationAdmissionOf(body, request.headers.get("x-project-id"));
      const admission = await admit(deps, verification.spec, verification.request, nowMilliseconds);
      writeBucketFields(admission, nowMilliseconds, responseHeaders);
      const code = admission.refusal?.code ?? "VALID";
      deps.metrics.recordVerification(code);
      return verificationOf(code, admission.principal, admission.bucket, admission.refusal?.details ?? []);
    },
  }),
  ...forwardAuthRoutes,
];
