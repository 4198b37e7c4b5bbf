/**
 * Tenancy model. A tenant is a customer account: `status` (active | suspended), `subscription`
 * (active | past_due | cancelled) and the modules it may use. A project belongs to one tenant and holds the settings
 * its keys and tokens follow: key prefix, allowed browser origins, CLI-approval page and callback hosts, the default
 * rate-limit policy and token lifetimes. A default tenant and project exist from the first start.
 *
 * Any key of a tenant that is suspended, cancelled or past due, or that calls a module the tenant lacks, is refused
 * on its very next request; the root key is exempt so an operator can always repair things.
 */
import { AppError } from "../../lib/errors.ts";
import type { Module } from "../../lib/modules.ts";
import { DEFAULT_KEY_PREFIX } from "../keys/secret.ts";

export const TENANT_STATUSES = ["active", "suspended"] as const;
export type TenantStatus = (typeof TENANT_STATUSES)[number];

export const SUBSCRIPTIONS = ["active", "past_due", "cancelled"] as const;
export type Subscription = (typeof SUBSCRIPTIONS)[number];

export const PROJECT_DEFAULTS = {
  keyPrefix: DEFAULT_KEY_PREFIX,
  ratelimitLimit: 1000,
  ratelimitWindowSeconds: 60,
  sessionTtlSeconds: 15 * 60,
  cliSessionTtlSeconds: 10 * 60,
  cliKeyTtlSeconds: 90 * 24 * 60 * 60,
  cliPollIntervalSeconds: 5,
  cliLoopbackHttp: true,
} as const;

export const SESSION_TTL_SECONDS_MAX = 24 * 60 * 60;

/** Whether a tenant's keys may be used for `module` now: status, then subscription, then the module; null if so. */
export function decideTenantAccess(
  tenant: { status: string; subscription: string; modules: readonly string[] },
  module: Module | undefined,
): AppError | null {
  if (tenant.status === "suspended") return new AppError("TENANT_SUSPENDED");
  if (tenant.subscription === "cancelled") return new AppError("SUBSCRIPTION_CANCELLED");
  if (tenant.subscription === "past_due") return new AppError("SUBSCRIPTION_PAST_DUE");
  if (module !== undefined && !tenant.modules.includes(module)) {
    return new AppError("MODULE_NOT_ENABLED", { details: [{ path: "module", message: module }] });
  }
  return null;
}
