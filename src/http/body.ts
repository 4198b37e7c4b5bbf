/**
 * Request bodies: JSON in UTF-8 (form-encoded only where a route says so, for OAuth), at most `limitBytes`, read only
 * by a route that takes one and only after its credential was checked. The announced length is checked before
 * anything is read, and a body without a length (chunked) is read only up to the limit, so an oversized upload costs
 * at most the limit. An empty body reads as `{}`, so routes whose fields are all optional need no body at all;
 * required fields are then reported by the schema like any other missing field.
 */
import { MIMEType } from "node:util";
import { AppError } from "../lib/errors.ts";

/**
 * No latchkey body nests deeper than a few levels. A limit well above that keeps a small body of `[[[[…` from costing
 * far more than its size later (the validator's error message holds the value pretty-printed: quadratic in depth).
 */
const MAX_JSON_DEPTH = 32;

function payloadTooLarge(limitBytes: number): AppError {
  return new AppError("PAYLOAD_TOO_LARGE", {
    details: [{ path: "body", message: `must be at most ${limitBytes} bytes` }],
  });
}

/** True when the request announces a body longer than the limit. */
function announcesBodyOver(request: Request, limitBytes: number): boolean {
  const declared = request.headers.get("content-length");
  return declared !== null && !(Number(declared) <= limitBytes);
}

export async function readJsonBody(request: Request, limitBytes: number): Promise<unknown> {
  const contentType = request.headers.get("content-type");
  if (contentType !== null && contentType.trim() !== "") refuseUnlessUtf8Json(contentType);
  const text = await readBodyText(request, limitBytes);
  if (text.trim() === "") return {};
  if (contentType === null || contentType.trim() === "") throw new AppError("UNSUPPORTED_MEDIA_TYPE");
  if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
    throw new AppError("VALIDATION_FAILED", {
      details: [{ path: "body", message: `must nest at most ${MAX_JSON_DEPTH} levels` }],
    });
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new AppError("VALIDATION_FAILED", {
      message: "The request body is not valid JSON.",
      details: [{ path: "body", message: "must be valid JSON" }],
    });
  }
}

/** Names of UTF-8 that senders use (the WHATWG Encoding Standard's labels for it, the common ones). */
const UTF8_CHARSETS = new Set(["utf-8", "utf8"]);

/**
 * application/json or any +json type, declaring no charset or UTF-8. JSON exchanged between systems is UTF-8 (RFC 8259
 * §8.1): a body declared as UTF-16 or Latin-1 would otherwise be read as UTF-8 and understood as something other than
 * what its sender meant.
 */
function refuseUnlessUtf8Json(contentType: string): void {
  let mediaType: MIMEType;
  try {
    mediaType = new MIMEType(contentType);
  } catch {
    throw new AppError("UNSUPPORTED_MEDIA_TYPE");
  }
  const { type, subtype } = mediaType;
  if (type !== "application" || (subtype !== "json" && !subtype.endsWith("+json"))) {
    throw new AppError("UNSUPPORTED_MEDIA_TYPE");
  }
  const charset = mediaType.params.get("charset");
  if (charset !== null && !UTF8_CHARSETS.has(charset.toLowerCase())) {
    throw new AppError("UNSUPPORTED_MEDIA_TYPE", {
      details: [{ path: "content-type", message: "must name no charset, or utf-8" }],
    });
  }
}

/** Whether arrays and objects in `text` nest deeper than `limit` (brackets inside strings do not count). */
function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (inString) {
      if (code === 0x5c)
        index++; // backslash: the next character is escaped
      else if (code === 0x22) inString = false;
    } else if (code === 0x22) inString = true;
    else if (code === 0x5b || code === 0x7b) {
      if (++depth > limit) return true;
    } else if (code === 0x5d || code === 0x7d) depth--;
  }
  return false;
}

const FORM_CONTENT_TYPE = /^application\/x-www-form-urlencoded\s*(?:;|$)/i;

/** An application/x-www-form-urlencoded body as an object; a repeated field is refused (RFC 6749 §3.1). */
export async function readFormBody(request: Request, limitBytes: number): Promise<Record<string, string>> {
  const contentType = request.headers.get("content-type");
  if (contentType === null || !FORM_CONTENT_TYPE.test(contentType)) {
    throw new AppError("UNSUPPORTED_MEDIA_TYPE", {
      message: "The request body must be application/x-www-form-urlencoded.",
    });
  }
  const fields: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(await readBodyText(request, limitBytes))) {
    if (Object.hasOwn(fields, name)) {
      throw new AppError("VALIDATION_FAILED", {
        details: [{ path: name.slice(0, 64), message: "must not be repeated" }],
      });
    }
    fields[name] = value;
  }
  return fields;
}

async function readBodyText(request: Request, limitBytes: number): Promise<string> {
  if (request.body === null) return "";
  if (announcesBodyOver(request, limitBytes)) throw payloadTooLarge(limitBytes);
  const bytes = request.headers.has("content-length")
    ? new Uint8Array(await request.arrayBuffer())
    : await readStreamWithin(request.body, limitBytes);
  if (bytes.byteLength > limitBytes) throw payloadTooLarge(limitBytes);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new AppError("VALIDATION_FAILED", {
      message: "The request body is not valid UTF-8.",
      details: [{ path: "body", message: "must be UTF-8 encoded JSON" }],
    });
  }
}

async function readStreamWithin(stream: ReadableStream<Uint8Array>, limitBytes: number): Promise<Uint8Array> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let totalBytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    totalBytes += value.byteLength;
    if (totalBytes > limitBytes) {
      await reader.cancel();
      throw payloadTooLarge(limitBytes);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(totalBytes);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}
