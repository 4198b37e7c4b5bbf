/** Wire shapes of API keys, and how stored rows become them. The secret appears only on create and rotate. */
import { z } from "zod";
import type { ApiKeyRow } from "../../db/schema.ts";
import { MAX_SCOPE_LENGTH, MAX_SCOPES_PER_KEY, SCOPE_PATTERN } from "../../domain/keys/scopes.ts";
import { ROTATION_GRACE_SECONDS_MAX } from "../../domain/keys/service.ts";
import { DAY_MILLISECONDS } from "../../domain/keys/usage.ts";
import {
  displayText,
  IsoDateTime,
  idOf,
  pageQuery,
  queryText,
  RateLimitPolicy,
  RateLimitPolicyInput,
} from "../../http/wire.ts";
import { parseAddressRanges } from "../../lib/address-ranges.ts";
import { toIsoString, toIsoStringOrNull } from "../../lib/clock.ts";
import { integerFrom } from "../../lib/validation.ts";

export const Scope = z
  .string()
  .max(MAX_SCOPE_LENGTH, { message: `must be at most ${MAX_SCOPE_LENGTH} characters` })
  .refine((scope) => !scope.includes("*"), { message: "must not contain wildcards (*)" })
  .regex(SCOPE_PATTERN, { message: "must be lower-case resource:action, e.g. runs:write" });

export const ScopeList = z
  .array(Scope)
  .min(1, { message: "must list at least one scope" })
  .max(MAX_SCOPES_PER_KEY, { message: `must list at most ${MAX_SCOPES_PER_KEY} scopes` });

export const Owner = displayText(256).describe("The end user this key acts for, in the host app's own ids.");

/** Bounds of a key's metadata: what a verification answer may carry on every request. */
const KEY_META_MAX_BYTES = 4096;
const KEY_META_MAX_PROPERTIES = 100;

/** A key's metadata as answered: any JSON object. */
export const KeyMetaValue = z.record(z.string(), z.unknown()).meta({ id: "KeyMeta" });

/** A key's metadata as sent: a JSON object of at most 100 top-level properties and 4 KB serialised. */
const KeyMeta = KeyMetaValue.refine((meta) => Object.keys(meta).length <= KEY_META_MAX_PROPERTIES, {
  message: `must have at most ${KEY_META_MAX_PROPERTIES} top-level properties`,
})
  .refine((meta) => Buffer.byteLength(JSON.stringify(meta)) <= KEY_META_MAX_BYTES, {
    message: `must be at most ${KEY_META_MAX_BYTES} bytes as JSON`,
  })
  .describe("The host app's own data about the key (at most 100 top-level properties, 4 KB as JSON).");

/** At most 100 addresses or CIDR ranges, IPv4 or IPv6; each checked as the decision will read it. */
const IpAllowlist = z
  .array(
    z
      .string()
      .max(64)
      .refine((entry) => parseAddressRanges([entry]).ok, {
        message: "must be an IPv4 or IPv6 address or CIDR range, e.g. 203.0.113.0/24",
      }),
  )
  .min(1, { message: "must list at least one address or range (null, or leave it out, for any address)" })
  .max(100, { message: "must list at most 100 addresses or ranges" })
  .describe("The addresses and CIDR ranges the key may be used from; others are refused 403 IP_NOT_ALLOWED.");

export const KeyParams = z.object({ id: idOf("apiKey") });

export const CreateKeyBody = z.strictObject({
  name: displayText(200),
  scopes: ScopeList,
  expires_at: IsoDateTime.optional().describe("When the key stops working; omitted means never."),
  project_id: idOf("project").optional().describe("Root key only: the project to create the key in."),
  owner: Owner.optional(),
  ratelimit: RateLimitPolicyInput.optional().describe("This key's own bucket; the project's default when omitted."),
  enabled: z.boolean().default(true).describe("A disabled key is refused (API_KEY_DISABLED) until enabled again."),
  meta: KeyMeta.optional(),
  ip_allowlist: IpAllowlist.optional(),
});

export const UpdateKeyBody = z.strictObject({
  name: displayText(200).optional(),
  scopes: ScopeList.optional().describe("Replaces the key's scopes; the caller must hold each one."),
  owner: Owner.nullable().optional().describe("null: the key no longer names an end user."),
  expires_at: IsoDateTime.nullable()
    .optional()
    .describe("A moment in the future, or null for never; a key made through a session token ends with its parent."),
  ratelimit: RateLimitPolicyInput.nullable()
    .optional()
    .describe("This key's own bucket; null returns to the project's."),
  enabled: z.boolean().optional().describe("false refuses the key and its tokens (API_KEY_DISABLED) until true again."),
  meta: KeyMeta.nullable().optional().describe("Replaces the key's metadata; null removes it."),
  ip_allowlist: IpAllowlist.nullable().optional().describe("Replaces the allowlist; null: any address again."),
});

export const WhoamiBody = z.strictObject({
  key: z.string().min(1).max(4096).describe("The secret of the key to look up; it is hashed, never kept or logged."),
});

export const RotateKeyBody = z.strictObject({
  grace_seconds: integerFrom(0, ROTATION_GRACE_SECONDS_MAX)
    .default(0)
    .describe("How long the previous secret keeps working; 0 retires it at once."),
});

/** The longest range one usage answer covers: 31 days of hours, or a year of days. */
const USAGE_RANGE_DAYS_MAX = { hour: 31, day: 366 } as const;

export const KeyUsageQuery = z
  .object({
    granularity: z.enum(["hour", "day"]).default("day").describe("Count per UTC hour or per UTC day."),
    start: IsoDateTime.optional().describe(
      "From the period holding this moment; by default a day (hours) or 30 days back.",
    ),
    end: IsoDateTime.optional().describe("Up to the period holding this moment, included; now by default."),
  })
  .transform((query, context) => {
    const endMs = query.end === undefined ? undefined : Date.parse(query.end);
    const startMs = query.start === undefined ? undefined : Date.parse(query.start);
    const maxDays = USAGE_RANGE_DAYS_MAX[query.granularity];
    if (startMs !== undefined && endMs !== undefined) {
      if (startMs > endMs) context.addIssue({ code: "custom", path: ["start"], message: "must not be after end" });
      else if (endMs - startMs > maxDays * DAY_MILLISECONDS) {
        context.addIssue({ code: "custom", path: ["start"], message: `must be at most ${maxDays} days before end` });
      }
    }
    return { granularity: query.granularity, startMs, endMs };
  });

export const KeyUsagePeriod = z
  .object({
    start: IsoDateTime.describe("The period's first moment (UTC)."),
    outcomes: z
      .record(z.string(), z.number().int())
      .describe("How many verifications ended in each outcome: VALID, or the catalogue code that refused them."),
  })
  .meta({ id: "KeyUsagePeriod" });

export const KeyListQuery = z.object({
  ...pageQuery("apiKey"),
  project_id: idOf("project").optional().describe("Root key only: list another project's keys."),
  owner: queryText(Owner).optional(),
  name: queryText(displayText(200)).optional().describe("Only keys whose name starts with this text (exact case)."),
  enabled: z.stringbool().optional().describe("true: only enabled keys; false: only disabled ones."),
  revoked: z.stringbool().optional().describe("true: only revoked keys; false: only live ones."),
  expired: z.stringbool().optional().describe("true: only keys past expires_at; false: only unexpired ones."),
  created_after: IsoDateTime.optional().describe("Only keys created at or after this moment."),
  created_before: IsoDateTime.optional().describe("Only keys created before this moment."),
});

export const ApiKey = z
  .object({
    id: z.string(),
    object: z.literal("api_key"),
    project_id: z.string(),
    name: z.string(),
    hint: z.string().describe("Prefix and last four characters of the current secret, for display."),
    scopes: z.array(z.string()),
    owner: z.string().nullable(),
    root: z.boolean(),
    enabled: z.boolean(),
    meta: KeyMetaValue.nullable(),
    ip_allowlist: z.array(z.string()).nullable().describe("Where the key may be used from; null: anywhere."),
    ratelimit: RateLimitPolicy.nullable().describe(
      "The key's own rate-limit policy; null means the project's default.",
    ),
    parent_key_id: z
      .string()
      .nullable()
      .describe(
        "The key whose session token created this one: it expires no later and is revoked with it. Null otherwise.",
      ),
    usage_count: z
      .number()
      .int()
      .describe("Requests made with the key and its tokens (written at most a minute late)."),
    expires_at: IsoDateTime.nullable(),
    revoked_at: IsoDateTime.nullable(),
    last_used_at: IsoDateTime.nullable(),
    created_at: IsoDateTime,
    updated_at: IsoDateTime,
  })
  .meta({ id: "ApiKey" });

export const CreatedKey = ApiKey.extend({ secret: z.string().describe("Shown once; store it now.") }).meta({
  id: "ApiKeyCreated",
});

export const RotatedKey = CreatedKey.extend({
  previous_secret_expires_at: IsoDateTime.describe("When the previous secret stops working."),
}).meta({ id: "ApiKeyRotated" });

export const RevokedKey = z
  .object({ id: z.string(), object: z.literal("api_key"), revoked: z.literal(true) })
  .meta({ id: "ApiKeyRevoked" });

export function presentKey(row: ApiKeyRow): z.input<typeof ApiKey> {
  return {
    id: row.id,
    object: "api_key",
    project_id: row.projectId,
    name: row.name,
    hint: row.hint,
    scopes: row.scopes,
    owner: row.owner,
    root: row.isRoot,
    enabled: row.enabled,
    meta: row.meta,
    ip_allowlist: row.ipAllowlist,
    ratelimit:
      row.ratelimitLimit === null || row.ratelimitWindowSeconds === null
        ? null
        : { limit: row.ratelimitLimit, window_seconds: row.ratelimitWindowSeconds },
    parent_key_id: row.parentKeyId,
    usage_count: row.usageCount,
    expires_at: toIsoStringOrNull(row.expiresAtMs),
    revoked_at: toIsoStringOrNull(row.revokedAtMs),
    last_used_at: toIsoStringOrNull(row.lastUsedAtMs),
    created_at: toIsoString(row.createdAtMs),
    updated_at: toIsoString(row.updatedAtMs),
  };
}
