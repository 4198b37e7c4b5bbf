/**
 * The only place an exception becomes an HTTP answer. Expected failures (AppError) answer through the catalogue;
 * Elysia's own failures are translated (malformed input → 400, unknown route → 404); everything else is an internal
 * error, answered 500 with no stack, no message and no internals. The underlying error travels as the AppError's
 * cause to the answer's log line (logServerError), with the request id: a 500 or a 503 in the log says why.
 */
import { isStorageUnavailable } from "../db/unavailable.ts";
import {
  AppError,
  causeFields,
  type ErrorDetail,
  errorBody,
  innermostCause,
  isCredentialError,
  OAuthError,
  stackFramesOf,
} from "../lib/errors.ts";
import { newRequestId } from "../lib/ids.ts";
import type { Logger } from "../lib/logger.ts";
import { ANSWER_HEADERS } from "./request-state.ts";
import type { ErrorFormat } from "./route.ts";

const MAX_DETAILS = 20;
/** How long a client should wait before retrying a 503. */
const UNAVAILABLE_RETRY_AFTER_SECONDS = 1;

interface StandardIssue {
  message: string;
  path?: readonly (PropertyKey | { key: PropertyKey })[];
  code?: string;
  keys?: string[];
}

interface StandardValidator {
  "~standard": { validate(value: unknown): { issues?: readonly StandardIssue[] } | Promise<unknown> };
}

/** What Elysia's ValidationError carries that we read: where validation failed, the validator and the value. */
interface ElysiaValidationError {
  type: string;
  validator: StandardValidator | { schema: StandardValidator };
  value: unknown;
}

/** 405, with the methods the path does answer (for the Allow header). */
export class MethodNotAllowed extends AppError {
  constructor(readonly allowedMethods: readonly string[]) {
    super("METHOD_NOT_ALLOWED", {
      details: [{ path: "method", message: `must be one of ${allowedMethods.join(", ")}` }],
    });
  }
}

/** A response that failed its own schema: what was wrong, by path and rule (never the values, which may be secret). */
class ResponseSchemaError extends Error {
  override name = "ResponseSchemaError";
}

/**
 * Any error, as the AppError it is answered with. An underlying error (a database that cannot answer, a bug) becomes
 * the AppError's cause, for logServerError; it never reaches the body.
 */
export function toAppError(code: string | number, error: unknown): AppError | OAuthError {
  if (error instanceof AppError || error instanceof OAuthError) return error;
  if (code === "PARSE") {
    const cause = (error as { cause?: unknown }).cause;
    if (cause instanceof AppError) return cause;
    return new AppError("VALIDATION_FAILED", {
      details: [{ path: "body", message: "could not be read" }],
      cause: error,
    });
  }
  if (code === "VALIDATION") {
    const validation = error as ElysiaValidationError;
    // A response that fails its own schema is our bug, not the caller's.
    if (validation.type === "response") {
      const details = describeIssues(validation).map((detail) => `${detail.path}: ${detail.message}`);
      return new AppError("INTERNAL", { cause: new ResponseSchemaError(details.join("; ")) });
    }
    return new AppError("VALIDATION_FAILED", { details: describeIssues(validation) });
  }
  if (code === "NOT_FOUND") return new AppError("NOT_FOUND", { message: "No such route." });
  if (isStorageUnavailable(error)) return new AppError("UNAVAILABLE", { cause: error });
  return new AppError("INTERNAL", { cause: error });
}

/** The most of a 500's stack a log line keeps. */
const LOGGED_STACK_FRAMES = 10;

/**
 * The log line of a 5xx answer, which says why: the cause's name, message, code and where it was thrown (a 500 also
 * its stack). Decisions answered 503 with their reason in the body (not ready yet) have no cause and no line.
 */
export function logServerError(
  logger: Logger,
  failure: AppError | OAuthError,
  request: { requestId: string; method?: string; route?: string },
): void {
  if (!(failure instanceof AppError) || failure.status < 500) return;
  if (failure.cause === undefined && failure.code !== "INTERNAL") return;
  const fields = {
    request_id: request.requestId,
    method: request.method,
    route: request.route,
    status: failure.status,
    code: failure.code,
    ...causeFields(failure),
  };
  if (failure.code === "UNAVAILABLE") {
    logger.warn(isStorageUnavailable(failure.cause) ? "database unavailable" : "unavailable", fields);
  } else if (failure.cause instanceof ResponseSchemaError) {
    logger.error("response failed its schema", fields);
  } else {
    const stack = stackFramesOf(innermostCause(failure)).slice(0, LOGGED_STACK_FRAMES).join("\n");
    logger.error("unhandled error", { ...fields, stack: stack === "" ? undefined : stack });
  }
}

/**
 * The last resort, for an exception that escaped the pipeline's error hook: one thrown while the response itself was
 * being built (a header value the runtime refuses, say), where Bun would answer a bare text/plain 500. It answers the
 * envelope with a request id, the same one the log line carries.
 */
export function lastResortResponse(error: unknown, logger: Logger): Response {
  const requestId = newRequestId();
  const failure = new AppError("INTERNAL", { cause: error });
  logServerError(logger, failure, { requestId });
  return Response.json(errorBody(failure, requestId), {
    status: 500,
    headers: { ...ANSWER_HEADERS, "x-request-id": requestId },
  });
}

function describeIssues(validation: ElysiaValidationError): ErrorDetail[] {
  const validator = "~standard" in validation.validator ? validation.validator : validation.validator.schema;
  const result = validator["~standard"].validate(validation.value);
  const issues = result instanceof Promise ? [] : (result.issues ?? []);
  const where = validation.type === "body" ? "body" : validation.type;
  const details: ErrorDetail[] = [];
  for (const issue of issues) {
    const path = formatPath(issue.path ?? []);
    if (issue.code === "unrecognized_keys" && issue.keys) {
      for (const key of issue.keys) details.push({ path: joinPath(path, key), message: "is not a recognised field" });
    } else {
      details.push({ path: path === "" ? where : path, message: issue.message });
    }
  }
  if (details.length === 0) details.push({ path: where, message: "is not valid" });
  return details.slice(0, MAX_DETAILS);
}

/** ["scopes", 2] → "scopes[2]", ["ratelimit", "limit"] → "ratelimit.limit". */
function formatPath(path: readonly (PropertyKey | { key: PropertyKey })[]): string {
  let text = "";
  for (const segment of path) {
    const key = typeof segment === "object" ? segment.key : segment;
    text = typeof key === "number" ? `${text}[${key}]` : joinPath(text, String(key));
  }
  return text;
}

function joinPath(base: string, key: string): string {
  const safeKey = /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? key : JSON.stringify(key.slice(0, 64));
  return base === "" ? safeKey : `${base}.${safeKey}`;
}

export interface ErrorAnswer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** The catalogue codes an OAuth endpoint can meet before its handler runs, in RFC 6749's words. */
const OAUTH_CODES: Partial<Record<AppError["code"], string>> = {
  NOT_FOUND: "invalid_client",
  MODULE_NOT_ENABLED: "unauthorized_client",
  TENANT_SUSPENDED: "unauthorized_client",
  SUBSCRIPTION_CANCELLED: "unauthorized_client",
  SUBSCRIPTION_PAST_DUE: "unauthorized_client",
  RATE_LIMITED: "slow_down",
  INTERNAL: "server_error",
};

const KEPT_STATUSES = new Set([405, 413, 429, 503]);

function oauthStatusOf(status: number): number {
  if (KEPT_STATUSES.has(status)) return status;
  return status >= 500 ? 500 : 400;
}

export function answerError(
  error: AppError | OAuthError,
  requestId: string,
  format: ErrorFormat = "standard",
): ErrorAnswer {
  if (error instanceof OAuthError) {
    return {
      status: error.status,
      headers: {},
      body: { error: error.oauthCode, error_description: error.description },
    };
  }
  const headers: Record<string, string> = {};
  if (error.code === "UNAVAILABLE") headers["retry-after"] = String(UNAVAILABLE_RETRY_AFTER_SECONDS);
  if (error instanceof MethodNotAllowed) headers.allow = error.allowedMethods.join(", ");
  if (isCredentialError(error.code)) {
    headers["www-authenticate"] =
      error.code === "API_KEY_REQUIRED" || error.code === "SESSION_REQUIRED"
        ? 'Bearer realm="latchkey"'
        : 'Bearer realm="latchkey", error="invalid_token"';
  }
  if (format === "cli") {
    const details = error.details.map((detail) => `${detail.path}: ${detail.message}`).join("; ");
    return {
      status: error.status,
      headers,
      body: {
        success: false,
        msg: details === "" ? error.publicMessage : `${error.publicMessage} (${details})`,
        code: error.code,
      },
    };
  }
  if (format === "oauth") {
    const oauthCode = OAUTH_CODES[error.code] ?? (error.status >= 500 ? "server_error" : "invalid_request");
    // RFC 6749 answers its own errors 400 (401 for invalid_client); the statuses that say something about the
    // request as HTTP (a method the path lacks, a body too large, too many requests, not available) keep their own.
    const status = oauthCode === "invalid_client" ? 401 : oauthStatusOf(error.status);
    const details = error.details.map((detail) => `${detail.path}: ${detail.message}`).join("; ");
    return {
      status,
      headers,
      body: {
        error: oauthCode,
        error_description: details === "" ? error.publicMessage : `${error.publicMessage} (${details})`,
      },
    };
  }
  return { status: error.status, headers, body: errorBody(error, requestId) };
}
