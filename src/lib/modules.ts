/**
 * The modules a tenant may be given: each of latchkey's features answers only tenants that have it. The list is the
 * vocabulary of the `tenants.modules` column as much as of the tenancy rules, so it sits below both.
 */
export const MODULES = ["keys", "sessions", "cli_login", "verify"] as const;
export type Module = (typeof MODULES)[number];
