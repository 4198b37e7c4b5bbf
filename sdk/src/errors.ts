/**
 * LatchkeyError: every failure the SDK reports, with latchkey's own catalogue code. Answers from latchkey carry their
 * code, status, message, request id and details; the SDK adds `UNAVAILABLE` (status 503) when latchkey could not be
 * reached or did not answer in time, with `requestId` null.
 */

export interface ErrorDetail {
  path: string;
  message: string;
}

/** The one error body latchkey answers with: `{"error":{"code","message","details","request_id"}}`. */
export interface ErrorBody {
  error: { code: string; message: string; details: ErrorDetail[]; request_id: string | null };
}

export class LatchkeyError extends Error {
  override readonly name = "LatchkeyError";
  /** A latchkey catalogue code: `API_KEY_REVOKED`, `SCOPE_NOT_GRANTED`, `RATE_LIMITED`, `UNAVAILABLE`, … */
  readonly code: string;
  /** The HTTP status latchkey answered (503 when it could not be reached). */
  readonly status: number;
  readonly requestId: string | null;
  readonly details: ErrorDetail[];
  /** Seconds to wait before trying again, when latchkey said (429, 503). */
  readonly retryAfterSeconds: number | null;

  constructor(
    code: string,
    status: number,
    message: string,
    options: {
      requestId?: string | null;
      details?: ErrorDetail[];
      retryAfterSeconds?: number | null;
      /** What the SDK met underneath (a network error, jose's refusal): for logs, never in an answer's body. */
      cause?: unknown;
    } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = status;
    this.requestId = options.requestId ?? null;
    this.details = options.details ?? [];
    this.retryAfterSeconds = options.retryAfterSeconds ?? null;
  }

  /** The error as latchkey's envelope, for a middleware answering the refusal itself. */
  toBody(): ErrorBody {
    return {
      error: { code: this.code, message: this.message, details: this.details, request_id: this.requestId },
    };
  }
}

/** latchkey could not be reached, or did not answer in time; `cause` is what failed underneath. */
export function unavailable(reason: string, cause?: unknown): LatchkeyError {
  return new LatchkeyError("UNAVAILABLE", 503, `latchkey could not be reached: ${reason}`, { cause });
}

/**
 * The error an answer carries, whichever of latchkey's envelopes it uses: the catalogue's `{error:{…}}`, the CLI-login
 * routes' `{success:false, msg, code}`, or an RFC 8628 `{error:"…"}`.
 */
export function errorFromAnswer(status: number, headers: Headers, body: unknown): LatchkeyError {
  const requestId = headers.get("x-request-id");
  const retryAfterSeconds = retryAfterOf(headers);
  const record = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
  const envelope = record.error;
  if (typeof envelope === "object" && envelope !== null) {
    const { code, message, details } = envelope as Record<string, unknown>;
    return new LatchkeyError(String(code ?? "INTERNAL"), status, String(message ?? `HTTP ${status}`), {
      requestId,
      details: Array.isArray(details) ? (details as ErrorDetail[]) : [],
      retryAfterSeconds,
    });
  }
  if (typeof record.msg === "string" || typeof envelope === "string") {
    const code = typeof record.code === "string" ? record.code : String(envelope);
    return new LatchkeyError(code, status, String(record.msg ?? record.error_description ?? envelope), {
      requestId,
      retryAfterSeconds,
    });
  }
  return new LatchkeyError(status >= 500 ? "INTERNAL" : "UNEXPECTED_ANSWER", status, `HTTP ${status}`, {
    requestId,
    retryAfterSeconds,
  });
}

export function retryAfterOf(headers: Headers): number | null {
  const value = headers.get("retry-after");
  if (value === null || !/^\d{1,6}$/.test(value.trim())) return null;
  return Number(value.trim());
}
