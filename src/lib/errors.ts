/**
 * The error catalogue: every code latchkey can answer, its HTTP status and its public message. Nothing else decides
 * a status. Public messages never include input values, secrets or internal causes; specifics go in `details`.
 *
 * The body is always {"error":{"code","message","details":[{"path","message"}],"request_id"}}.
 */
import type { LogFields } from "./logger.ts";

export const ERROR_CATALOGUE = {
  VALIDATION_FAILED: { status: 400, message: "The request is not valid." },
  API_KEY_REQUIRED: { status: 401, message: "An API key is required: send Authorization: Bearer <key>." },
  API_KEY_INVALID: { status: 401, message: "The API key is not valid." },
  API_KEY_REVOKED: { status: 401, message: "The API key has been revoked." },
  API_KEY_DISABLED: { status: 401, message: "The API key is disabled." },
  API_KEY_EXPIRED: { status: 401, message: "The API key has expired." },
  SESSION_REQUIRED: { status: 401, message: "A session token is required: send X-Session-Token." },
  SESSION_INVALID: { status: 401, message: "The session token is not valid." },
  SESSION_EXPIRED: { status: 401, message: "The session token has expired." },
  IP_NOT_ALLOWED: { status: 403, message: "The key may not be used from this address." },
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
 * the catalogue's public message only with text that is safe to show (it never contains input values). `cause` is
 * the underlying error it was made from (the database's, the socket's, a bug's): it travels to the log line of the
 * answer, never into its body.
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetail[];
  readonly publicMessage: string;

  constructor(code: ErrorCode, options: { message?: string; details?: ErrorDetail[]; cause?: unknown } = {}) {
    const publicMessage = options.message ?? ERROR_CATALOGUE[code].message;
    super(publicMessage, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AppError";
    this.code = code;
    this.details = options.details ?? [];
    this.publicMessage = publicMessage;
  }

  get status(): number {
    return ERROR_CATALOGUE[this.code].status;
  }
}

/** How deep a chain of causes is followed: wrappers (drizzle's, ours) are one or two deep. */
const MAX_CAUSE_DEPTH = 5;
const MAX_CAUSE_MESSAGE_LENGTH = 500;
/** A URL's password, and any run of characters long enough to be a secret, a token or a hash. */
const URL_PASSWORD = /(\/\/[^/:@\s]*):[^/@\s]*@/g;
const SECRET_LIKE = /[A-Za-z0-9_-]{32,}/g;

/**
 * What a log line says of why something failed: the innermost cause's name, message, code (a socket's ECONNREFUSED,
 * a PostgreSQL SQLSTATE, SQLite's SQLITE_BUSY) and the top frame of its stack. The innermost, because wrappers say
 * less and some say too much (drizzle's repeats the query's parameters). Anything that could be a secret is cut from
 * the message: a URL's password, and every run of 32 or more letters, digits, "_" or "-".
 */
export function causeFields(error: unknown): LogFields {
  const cause = innermostCause(error);
  if (!(cause instanceof Error)) return { cause_name: typeof cause, cause_message: scrubbed(String(cause)) };
  const code = (cause as { code?: unknown }).code;
  const name = cause.name === "Error" || cause.name === "error" ? cause.constructor.name : cause.name;
  return {
    cause_name: name,
    cause_message: scrubbed(cause.message),
    cause_code: typeof code === "string" || typeof code === "number" ? scrubbed(String(code)) : undefined,
    cause_at: stackFramesOf(cause)[0],
  };
}

/** The error at the end of a chain of causes (the error itself when it has none). */
export function innermostCause(error: unknown): unknown {
  let cause = error;
  for (let depth = 0; depth < MAX_CAUSE_DEPTH && cause instanceof Error && cause.cause !== undefined; depth++) {
    cause = cause.cause;
  }
  return cause;
}

/** The frames of an error's stack ("at f (file:line:column)"), without its first line (that is the message). */
export function stackFramesOf(error: unknown): string[] {
  if (!(error instanceof Error) || typeof error.stack !== "string") return [];
  return error.stack
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.startsWith("at "));
}

function scrubbed(text: string): string {
  // Cut after redacting, so a secret is never left in part at the end.
  return text
    .replace(URL_PASSWORD, "$1:[redacted]@")
    .replace(SECRET_LIKE, "[redacted]")
    .slice(0, MAX_CAUSE_MESSAGE_LENGTH);
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
