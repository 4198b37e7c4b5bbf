/**
 * Wire shapes shared by every feature: the one error body, list envelopes, pagination and timestamps. Written by
 * hand with zod; every schema here has a JSON Schema form so the OpenAPI document shows it.
 *
 * A shape clients name is registered with `.meta({ id })`, once, where it is defined: the document then declares it
 * in `components.schemas` and refers to it wherever a route uses it (document.ts), so generated clients get one
 * named type. An id names one JSON shape, so it goes on answers (their output form) and never on a schema that is
 * also read as input.
 */
import { z } from "zod";
import { ERROR_CODES } from "../lib/errors.ts";
import { type IdKind, idPattern } from "../lib/ids.ts";
import { integerFrom, integerTextFrom } from "../lib/validation.ts";

/** The catalogue's codes (src/lib/errors.ts), listed once in the document. */
export const CatalogueCode = z.enum(ERROR_CODES as [string, ...string[]]).meta({ id: "ErrorCode" });

export const RefusalDetail = z
  .object({ path: z.string(), message: z.string() })
  .meta({ id: "ErrorDetail", description: "What a refusal is about: a field, a header, a scope." });

export const ErrorResponse = z
  .object({
    error: z.object({
      code: CatalogueCode,
      message: z.string(),
      details: z.array(RefusalDetail),
      request_id: z.string(),
    }),
  })
  .meta({ id: "Error" });

/** The CLI-login routes keep the envelope their clients already parse. */
export const CliErrorResponse = z
  .object({ success: z.literal(false), msg: z.string(), code: CatalogueCode })
  .meta({ id: "CliError" });

/** RFC 6749 §5.2. */
export const OAuthErrorResponse = z
  .object({ error: z.string(), error_description: z.string().optional() })
  .meta({ id: "OAuthError" });

export const IsoDateTime = z.iso.datetime({ offset: true, message: "must be an ISO 8601 date-time" });

export function idOf(kind: IdKind) {
  return z.string().regex(idPattern(kind), { message: `must be an id of the form ${idPattern(kind).source}` });
}

/**
 * A display string: 1 to `maxLength` characters with no control characters, and well-formed (a lone UTF-16 surrogate
 * cannot be stored or sent as UTF-8 without turning into something else). Nor the bidirectional embeddings,
 * overrides and isolates (U+202A–U+202E, U+2066–U+2069): invisible, they reorder what is shown, so the device name an
 * approver reads as "laptopgnp.exe" could be stored as something else (Trojan Source, CVE-2021-42574).
 */
export function displayText(maxLength: number) {
  return z
    .string()
    .min(1, { message: "must not be empty" })
    .max(maxLength, { message: `must be at most ${maxLength} characters` })
    .regex(/^[^\p{Cc}\u202a-\u202e\u2066-\u2069]*$/u, {
      message: "must not contain control characters or bidirectional controls",
    })
    .refine((text) => text.isWellFormed(), { message: "must be valid Unicode text" });
}

const PAGE_LIMIT_MAX = 100;
const PAGE_LIMIT_DEFAULT = 20;

export function pageQuery(cursorKind: IdKind) {
  return {
    limit: integerTextFrom(1, PAGE_LIMIT_MAX).default(PAGE_LIMIT_DEFAULT),
    cursor: idOf(cursorKind).optional().describe("The `next_cursor` of the previous page."),
  };
}

const lists = new WeakMap<z.ZodType, z.ZodType>();

/** The list envelope of a named item is named after it (`ApiKeyList`), once however many routes answer it. */
export function listOf<Item extends z.ZodType>(item: Item) {
  const list = z.object({ object: z.literal("list"), data: z.array(item), next_cursor: z.string().nullable() });
  const itemId = z.globalRegistry.get(item)?.id;
  if (itemId === undefined) return list;
  const known = lists.get(item) as typeof list | undefined;
  if (known) return known;
  const named = list.meta({ id: `${itemId}List` });
  lists.set(item, named);
  return named;
}

export function listResponse<Item>(items: Item[], nextCursor: string | null) {
  return { object: "list" as const, data: items, next_cursor: nextCursor };
}

/** The wire policy as the rate limiter reads it. */
export function policyFromWire(wire: z.output<typeof RateLimitPolicyInput>): { limit: number; windowSeconds: number } {
  return { limit: wire.limit, windowSeconds: wire.window_seconds };
}

/** A token bucket, as answers show it. */
export const RateLimitPolicy = z
  .object({ limit: z.number().int(), window_seconds: z.number().int() })
  .meta({ id: "RateLimitPolicy", description: "`limit` requests at once, refilled completely over `window_seconds`." });

/** A token bucket: `limit` requests at once, refilled completely over `window_seconds`. */
export const RateLimitPolicyInput = z.strictObject({
  limit: integerFrom(1, 1_000_000).describe("Requests allowed at once (the bucket's size)."),
  window_seconds: integerFrom(1, 86_400).describe("Seconds for the bucket to refill completely."),
});

/**
 * A free-text query value. Elysia splits a query value at commas into an array before validation; join it back so
 * text that contains commas arrives as it was sent.
 */
export function queryText<Text extends z.ZodType<string, string>>(text: Text) {
  return z
    .union([z.string(), z.array(z.string()).max(100)])
    .transform((value) => (Array.isArray(value) ? value.join(",") : value))
    .pipe(text);
}
