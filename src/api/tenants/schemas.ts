/** Wire shapes of tenants and projects (snake_case, ISO times), and how stored rows become them. */
import { z } from "zod";
import type { ProjectRow, TenantRow } from "../../db/schema.ts";
import { KEY_PREFIX_PATTERN, RESERVED_KEY_PREFIX_NAMESPACE, ROOT_KEY_PREFIX } from "../../domain/keys/secret.ts";
import { SESSION_TTL_SECONDS_MAX, SUBSCRIPTIONS, TENANT_STATUSES } from "../../domain/tenants/model.ts";
import { displayText, IsoDateTime, idOf, pageQuery, RateLimitPolicy, RateLimitPolicyInput } from "../../http/wire.ts";
import { toIsoString, toIsoStringOrNull } from "../../lib/clock.ts";
import { MODULES } from "../../lib/modules.ts";
import { isCallbackHost, isExactOrigin, isSecureWebUrl } from "../../lib/urls.ts";
import { integerFrom } from "../../lib/validation.ts";
import { ScopeList } from "../keys/schemas.ts";

const Name = displayText(200);
const Status = z.enum(TENANT_STATUSES);
const Subscription = z.enum(SUBSCRIPTIONS);
const Modules = z.array(z.enum(MODULES)).max(MODULES.length * 4, { message: "lists too many modules" });

export const TenantParams = z.object({ id: idOf("tenant") });

export const CreateTenantBody = z.strictObject({
  name: Name,
  status: Status.optional(),
  subscription: Subscription.optional(),
  modules: Modules.optional().describe("Modules the tenant may use; all of them when omitted."),
});

/**
 * The read-only fields of an answer, accepted back in a PATCH so that what GET returns can be sent back changed
 * (read-modify-write): each must still hold its current value (400 otherwise), and `updated_at` is ignored.
 */
const READ_ONLY = "Read-only: accepted as GET returns it; refused if it differs.";
const readOnlyFields = {
  id: z.string().max(64).optional().describe(READ_ONLY),
  is_default: z.boolean().optional().describe(READ_ONLY),
  created_at: IsoDateTime.optional().describe(READ_ONLY),
  updated_at: IsoDateTime.optional().describe("Ignored: the server sets it."),
  deleted_at: IsoDateTime.nullable().optional().describe(READ_ONLY),
};

export const UpdateTenantBody = z.strictObject({
  name: Name.optional(),
  status: Status.optional(),
  subscription: Subscription.optional(),
  modules: Modules.optional(),
  object: z.literal("tenant").optional(),
  ...readOnlyFields,
});

/** The read-only fields a PATCH sent back, as the stored values they must still equal. */
export function readOnlyFromWire(body: {
  id?: string;
  is_default?: boolean;
  created_at?: string;
  deleted_at?: string | null;
}) {
  return {
    id: body.id,
    isDefault: body.is_default,
    createdAtMs: body.created_at === undefined ? undefined : Date.parse(body.created_at),
    deletedAtMs: typeof body.deleted_at === "string" ? Date.parse(body.deleted_at) : body.deleted_at,
  };
}

const IncludeDeleted = z.stringbool().optional().describe("Also list deleted records (shown with deleted_at).");

export const TenantListQuery = z.object({ ...pageQuery("tenant"), include_deleted: IncludeDeleted });

const DeletedAt = IsoDateTime.nullable().describe(
  "When it was deleted; the record is kept for the audit trail. Null while it is live.",
);

export const Tenant = z
  .object({
    id: z.string(),
    object: z.literal("tenant"),
    name: z.string(),
    status: Status,
    subscription: Subscription,
    modules: z.array(z.enum(MODULES)),
    is_default: z.boolean(),
    created_at: IsoDateTime,
    updated_at: IsoDateTime,
    deleted_at: DeletedAt,
  })
  .meta({ id: "Tenant" });

export function presentTenant(row: TenantRow): z.input<typeof Tenant> {
  return {
    id: row.id,
    object: "tenant",
    name: row.name,
    status: row.status,
    subscription: row.subscription,
    modules: row.modules,
    is_default: row.isDefault,
    created_at: toIsoString(row.createdAtMs),
    updated_at: toIsoString(row.updatedAtMs),
    deleted_at: toIsoStringOrNull(row.deletedAtMs),
  };
}

const Origin = z
  .string()
  .max(2048)
  .refine(isExactOrigin, { message: "must be an exact origin such as https://app.example.com (no path)" });
const WebUrl = z
  .string()
  .max(2048)
  .refine(isSecureWebUrl, { message: "must be an https URL (http only for localhost)" });
/** A callback host: a host name, optionally with a port other than https's default (`cli.example.com:8443`). */
const CallbackHost = z.string().max(259).refine(isCallbackHost, {
  message: "must be a lower-case host name such as cli.example.com, or host:port with a port from 1 to 65535 but 443",
});
const KeyPrefix = z
  .string()
  .regex(KEY_PREFIX_PATTERN, { message: "must be lower case letters, digits and _, start with a letter, end with _" })
  .refine((prefix) => !prefix.startsWith(RESERVED_KEY_PREFIX_NAMESPACE), {
    message:
      `must not start with ${RESERVED_KEY_PREFIX_NAMESPACE}: ` +
      `that namespace is latchkey's own (the root key is ${ROOT_KEY_PREFIX}…)`,
  });
const SessionTtlSeconds = integerFrom(60, SESSION_TTL_SECONDS_MAX);

const CliSessionTtlSeconds = integerFrom(60, 3600);
const CliKeyTtlSeconds = integerFrom(60, 10 * 365 * 86_400);
const CliPollIntervalSeconds = integerFrom(1, 60);

/** The CLI-login settings by the names GET shows (`cli.session_ttl_seconds` is `cli_session_ttl_seconds`). */
const CliSettings = z.strictObject({
  session_ttl_seconds: CliSessionTtlSeconds.optional(),
  key_ttl_seconds: CliKeyTtlSeconds.optional(),
  poll_interval_seconds: CliPollIntervalSeconds.optional(),
  default_scopes: ScopeList.nullable().optional(),
  loopback_http: z.boolean().optional(),
});

type CliSetting = keyof z.output<typeof CliSettings>;
const CLI_SETTINGS: readonly CliSetting[] = Object.keys(CliSettings.shape) as CliSetting[];

const projectSettings = {
  key_prefix: KeyPrefix.optional().describe("Prefix of new secrets; default sk_live_."),
  allowed_origins: z.array(Origin).max(100).optional().describe("Exact origins allowed on the browser channel."),
  verification_url: WebUrl.nullable().optional().describe("The host app's page for approving CLI logins."),
  callback_hosts: z
    .array(CallbackHost)
    .max(100)
    .nullable()
    .optional()
    .describe("Hosts CLI callbacks may point at: `host` allows port 443 only, `host:port` that port only."),
  ratelimit: RateLimitPolicyInput.optional().describe("Default rate-limit policy of the project's keys."),
  session_ttl_seconds: SessionTtlSeconds.optional().describe("Lifetime of end-user session tokens."),
  cli_session_ttl_seconds: CliSessionTtlSeconds.optional().describe("How long a CLI login waits for approval."),
  cli_key_ttl_seconds: CliKeyTtlSeconds.optional().describe("Lifetime of keys minted for CLIs."),
  cli_poll_interval_seconds: CliPollIntervalSeconds.optional().describe("Seconds a CLI must wait between polls."),
  cli_default_scopes: ScopeList.nullable()
    .optional()
    .describe("Scopes of a CLI key when neither approver nor CLI names any."),
  cli_loopback_http: z.boolean().optional().describe("Allow plain-http CLI callbacks to loopback addresses."),
  cli: CliSettings.optional().describe("The cli_* settings as GET returns them; either spelling may be sent."),
};

/** A setting sent under both of its names must say the same thing under both. */
function sameUnderBothNames(
  body: { cli?: z.output<typeof CliSettings> } & Record<string, unknown>,
  context: z.RefinementCtx,
) {
  for (const setting of CLI_SETTINGS) {
    const nested = body.cli?.[setting];
    const flat = body[`cli_${setting}`];
    if (nested !== undefined && flat !== undefined && JSON.stringify(nested) !== JSON.stringify(flat)) {
      context.addIssue({ code: "custom", path: ["cli", setting], message: `disagrees with cli_${setting}` });
    }
  }
}

export const ProjectParams = z.object({ id: idOf("project") });

export const CreateProjectBody = z
  .strictObject({ tenant_id: idOf("tenant"), name: Name, ...projectSettings })
  .superRefine(sameUnderBothNames);

export const UpdateProjectBody = z
  .strictObject({
    name: Name.optional(),
    ...projectSettings,
    object: z.literal("project").optional(),
    tenant_id: z.string().max(64).optional().describe(READ_ONLY),
    ...readOnlyFields,
  })
  .superRefine(sameUnderBothNames);

export const ProjectListQuery = z.object({
  ...pageQuery("project"),
  tenant_id: idOf("tenant").optional(),
  include_deleted: IncludeDeleted,
});

export const Project = z
  .object({
    id: z.string(),
    object: z.literal("project"),
    tenant_id: z.string(),
    name: z.string(),
    is_default: z.boolean(),
    key_prefix: z.string(),
    allowed_origins: z.array(z.string()),
    verification_url: z.string().nullable(),
    callback_hosts: z.array(z.string()).nullable(),
    ratelimit: RateLimitPolicy,
    session_ttl_seconds: z.number().int(),
    cli: z.object({
      session_ttl_seconds: z.number().int(),
      key_ttl_seconds: z.number().int(),
      poll_interval_seconds: z.number().int(),
      default_scopes: z.array(z.string()).nullable(),
      loopback_http: z.boolean(),
    }),
    created_at: IsoDateTime,
    updated_at: IsoDateTime,
    deleted_at: DeletedAt,
  })
  .meta({ id: "Project" });

export function presentProject(row: ProjectRow): z.input<typeof Project> {
  return {
    id: row.id,
    object: "project",
    tenant_id: row.tenantId,
    name: row.name,
    is_default: row.isDefault,
    key_prefix: row.keyPrefix,
    allowed_origins: row.allowedOrigins,
    verification_url: row.verificationUrl,
    callback_hosts: row.callbackHosts,
    ratelimit: { limit: row.ratelimitLimit, window_seconds: row.ratelimitWindowSeconds },
    session_ttl_seconds: row.sessionTtlSeconds,
    cli: {
      session_ttl_seconds: row.cliSessionTtlSeconds,
      key_ttl_seconds: row.cliKeyTtlSeconds,
      poll_interval_seconds: row.cliPollIntervalSeconds,
      default_scopes: row.cliDefaultScopes,
      loopback_http: row.cliLoopbackHttp,
    },
    created_at: toIsoString(row.createdAtMs),
    updated_at: toIsoString(row.updatedAtMs),
    deleted_at: toIsoStringOrNull(row.deletedAtMs),
  };
}

/**
 * Wire settings → stored column values; absent fields stay absent so an update changes only what was sent. A CLI
 * setting may come flat or under `cli` (validation has made sure two spellings agree).
 */
export function projectSettingsFromWire(body: z.output<typeof UpdateProjectBody>) {
  const cli = body.cli ?? {};
  return {
    name: body.name,
    keyPrefix: body.key_prefix,
    allowedOrigins: body.allowed_origins,
    verificationUrl: body.verification_url,
    callbackHosts: body.callback_hosts,
    ratelimitLimit: body.ratelimit?.limit,
    ratelimitWindowSeconds: body.ratelimit?.window_seconds,
    sessionTtlSeconds: body.session_ttl_seconds,
    cliSessionTtlSeconds: body.cli_session_ttl_seconds ?? cli.session_ttl_seconds,
    cliKeyTtlSeconds: body.cli_key_ttl_seconds ?? cli.key_ttl_seconds,
    cliPollIntervalSeconds: body.cli_poll_interval_seconds ?? cli.poll_interval_seconds,
    // null is a value here (no default scopes), so only an absent flat field defers to the nested one.
    cliDefaultScopes: body.cli_default_scopes !== undefined ? body.cli_default_scopes : cli.default_scopes,
    cliLoopbackHttp: body.cli_loopback_http ?? cli.loopback_http,
  };
}
