/**
 * The error catalogue: every code latchkey can answer, its HTTP status and its public message. Nothing else decides
 * a status. Public messages never include input values, secrets or internal causes; specifics go in `details`.
 *
 * The body is always {"error":{"code","message","details":[{"path","message"}],"request_id"}}.
 */
export const ERROR_CATALOGUE = {
  VALIDATION_FAILED: { status: 400, message: "The request is not valid." },
  API_KEY_REQUIRED: { status: 401, message: "An API key is required: send Authorization: Bearer <key>." },
  API_KEY_INVALID: { status: 401, message: "The API key is not valid." },
  API_KEY_REVOKED: { status: 401, message: "The API key has been revoked." },
  API_KEY_EXPIRED: { status: 401, message: "The API key has expired." },
  SESSION_REQUIRED: { status: 401, message: "A session token is required: send X-Session-Token." },
  SESSION_INVALID: { status: 401, message: "The session token is not valid." },
  SESSION_EXPIRED: { status: 401, message: "The session token has expired." },
  ORIGIN_NOT_ALLOWED: { status: 403, message: "This origin is not allowed for the project." },
  SCOPE_NOT_GRANTED: { status: 403, message: "The credential does not hold the required scopes." },
  LIMIT_NOT_GRANTED: { status: 403, message: "A credential can only grant a rate limit within its own." },
  TENANT_SUSPENDED: { status: 403, message: "The tenant is suspended." },
  SUBSCRIPTION_CANCELLED: { status: 403, message: "The tenant's subscription is cancelled." },
  SUBSCRIPTION_PAST_DUE: { status: 403, message: "The tenant's subscription is past due." },
  MODULE_NOT_ENABLED: { status: 403, message: "This module is not enabled for the tenant." },
  ROOT_KEY_NOT_ALLOWED: {
    status: 403,
    message: "The root key manages latchkey and is not a credential for an API: use a key of the project.",
  },
  NOT_FOUND: { status: 404, message: "Not found." },
  METHOD_NOT_ALLOWED: { status: 405, message: "This path does not answer this method." },
  CONFLICT: { status: 409, message: "The request conflicts with the current state." },
  PAYLOAD_TOO_LARGE: { status: 413, message: "The request body is too large." },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: "The request body must be application/json." },
  RATE_LIMITED: { status: 429, message: "Too many requests." },
  INTERNAL: { status: 500, message: "Internal error." },
  UNAVAILABLE: { status: 503, message: "The service cannot answer right now; retry shortly." },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;
export const ERROR_CODES = Object.keys(ERROR_CATALOGUE) as ErrorCode[];

export interface ErrorDetail {
  path: string;
  message: string;
}

/**
 * A failure latchkey expected: services throw it, the HTTP edge answers it through the catalogue. `message` replaces
 * the catalogue's public message only with text that is safe to show (it never contains input values).
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetail[];
  readonly publicMessage: string;

  constructor(code: ErrorCode, options: { message?: string; details?: ErrorDetail[] } = {}) {
    const publicMessage = options.message ?? ERROR_CATALOGUE[code].message;
    super(publicMessage);
    this.name = "AppError";
    this.code = code;
    this.details = options.details ?? [];
    this.publicMessage = publicMessage;
  }

  get status(): number {
    return ERROR_CATALOGUE[this.code].status;
  }
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details: ErrorDetail[]; request_id: string };
}

export function errorBody(error: AppError, requestId: string): ErrorBody {
  return { error: { code: error.code, message: error.publicMessage, details: error.details, request_id: requestId } };
}

/** 401 answers carry a challenge so clients know which credential to send (RFC 6750). */
export function isCredentialError(code: ErrorCode): boolean {
  return ERROR_CATALOGUE[code].status === 401;
}

/**
 * An RFC 6749 / RFC 8628 error from the OAuth device-grant endpoints, which answer in the RFC's own vocabulary
 * (`authorization_pending`, `slow_down`, …) rather than the catalogue's.
 */
export class OAuthError extends Error {
  constructor(
    readonly oauthCode: string,
    readonly description: string,
    readonly status = 400,
  ) {
    super(description);
    this.name = "OAuthError";
  }
}
