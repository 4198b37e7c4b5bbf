/**
 * The credential decision as a table: a record that passes everything, then one row per step of the documented order
 * with the change that makes exactly that step refuse, and rows where two steps would refuse to pin which one wins.
 */
import { describe, expect, test } from "bun:test";
import type { KeyCredentialRecord } from "../../src/auth/credential-store.ts";
import { type AccessRequirement, decideKeyAccess, decideOrigin, decideScopes } from "../../src/auth/decision.ts";

const NOW = Date.parse("2026-01-01T00:00:00Z");
const PROJECT = "prj_0000000000000000000001";

function record(changes: { key?: object; tenant?: object; project?: object; secretRetiresAtMs?: number | null } = {}) {
  return {
    key: {
      id: "key_0000000000000000000001",
      projectId: PROJECT,
      name: "k",
      scopes: ["runs:read", "runs:write"],
      owner: null,
      isRoot: false,
      hint: "sk_live_...abcd",
      expiresAtMs: null,
      revokedAtMs: null,
      enabled: true,
      meta: null,
      ipAllowlist: null,
      ratelimitLimit: null,
      ratelimitWindowSeconds: null,
      lastUsedAtMs: null,
      usageCount: 0,
      createdAtMs: NOW,
      updatedAtMs: NOW,
      ...changes.key,
    },
    secretHash: "0".repeat(64),
    secretRetiresAtMs: changes.secretRetiresAtMs ?? null,
    project: {
      id: PROJECT,
      tenantId: "ten_0000000000000000000001",
      allowedOrigins: ["https://app.example.com"],
      deletedAtMs: null,
      ...changes.project,
    },
    tenant: {
      id: "ten_0000000000000000000001",
      status: "active",
      subscription: "active",
      modules: ["keys", "verify"],
      deletedAtMs: null,
      ...changes.tenant,
    },
  } as unknown as KeyCredentialRecord;
}

const ROOT = { key: { isRoot: true, scopes: [] } };
const everything: AccessRequirement = { module: "verify", scopes: ["runs:read"], origin: "https://app.example.com" };

type Row = [string, KeyCredentialRecord | undefined, AccessRequirement, string];

const rows: Row[] = [
  ["a record that passes every step", record(), everything, "OK"],
  ["no record (lookup failed)", undefined, everything, "API_KEY_INVALID"],
  [
    "another project than the one named",
    record(),
    { ...everything, projectId: "prj_0000000000000000000002" },
    "API_KEY_INVALID",
  ],
  ["revoked", record({ key: { revokedAtMs: NOW } }), everything, "API_KEY_REVOKED"],
  ["revoked a moment from now: not yet", record({ key: { revokedAtMs: NOW + 1 } }), everything, "OK"],
  ["the secret retired by rotation", record({ secretRetiresAtMs: NOW }), everything, "API_KEY_REVOKED"],
  [
    "regression: its project deleted, the cached key row still live",
    record({ project: { deletedAtMs: NOW } }),
    everything,
    "API_KEY_REVOKED",
  ],
  ["its tenant deleted", record({ tenant: { deletedAtMs: NOW } }), everything, "API_KEY_REVOKED"],
  ["disabled", record({ key: { enabled: false } }), everything, "API_KEY_DISABLED"],
  ["expired at this very millisecond", record({ key: { expiresAtMs: NOW } }), everything, "API_KEY_EXPIRED"],
  ["expiring a millisecond later", record({ key: { expiresAtMs: NOW + 1 } }), everything, "OK"],
  ["the root key where it is refused", record(ROOT), { ...everything, refuseRootKey: true }, "ROOT_KEY_NOT_ALLOWED"],
  ["the tenant suspended", record({ tenant: { status: "suspended" } }), everything, "TENANT_SUSPENDED"],
  [
    "the subscription cancelled",
    record({ tenant: { subscription: "cancelled" } }),
    everything,
    "SUBSCRIPTION_CANCELLED",
  ],
  ["the subscription past due", record({ tenant: { subscription: "past_due" } }), everything, "SUBSCRIPTION_PAST_DUE"],
  ["the module not enabled", record({ tenant: { modules: ["keys"] } }), everything, "MODULE_NOT_ENABLED"],
  [
    "an address not on the key's allowlist",
    record({ key: { ipAllowlist: ["192.0.2.0/24"] } }),
    { ...everything, clientAddress: () => "198.51.100.1" },
    "IP_NOT_ALLOWED",
  ],
  [
    "an address on the key's allowlist",
    record({ key: { ipAllowlist: ["192.0.2.0/24", "2001:db8::/32"] } }),
    { ...everything, clientAddress: () => "2001:db8::7" },
    "OK",
  ],
  [
    "an allowlist and no address known",
    record({ key: { ipAllowlist: ["192.0.2.0/24"] } }),
    everything,
    "IP_NOT_ALLOWED",
  ],
  [
    "an origin the project does not list",
    record(),
    { ...everything, origin: "https://evil.example" },
    "ORIGIN_NOT_ALLOWED",
  ],
  ["no origin at all (server to server)", record(), { ...everything, origin: null }, "OK"],
  ["a scope the key lacks", record(), { ...everything, scopes: ["runs:read", "billing:read"] }, "SCOPE_NOT_GRANTED"],
  // Which refusal wins when several apply: the earlier step, always.
  [
    "revoked and expired: revoked",
    record({ key: { revokedAtMs: NOW, expiresAtMs: NOW } }),
    everything,
    "API_KEY_REVOKED",
  ],
  [
    "its project deleted and the key expired: revoked",
    record({ key: { expiresAtMs: NOW }, project: { deletedAtMs: NOW } }),
    everything,
    "API_KEY_REVOKED",
  ],
  [
    "revoked and disabled: revoked",
    record({ key: { revokedAtMs: NOW, enabled: false } }),
    everything,
    "API_KEY_REVOKED",
  ],
  [
    "disabled and expired: disabled",
    record({ key: { enabled: false, expiresAtMs: NOW } }),
    everything,
    "API_KEY_DISABLED",
  ],
  [
    "expired and suspended: expired",
    record({ key: { expiresAtMs: NOW }, tenant: { status: "suspended" } }),
    everything,
    "API_KEY_EXPIRED",
  ],
  [
    "suspended and cancelled: suspended",
    record({ tenant: { status: "suspended", subscription: "cancelled" } }),
    everything,
    "TENANT_SUSPENDED",
  ],
  [
    "cancelled and without modules: cancelled",
    record({ tenant: { subscription: "cancelled", modules: [] } }),
    everything,
    "SUBSCRIPTION_CANCELLED",
  ],
  [
    "no module and a wrong origin: module",
    record({ tenant: { modules: [] } }),
    { ...everything, origin: "https://x.test" },
    "MODULE_NOT_ENABLED",
  ],
  [
    "no module and an address off the allowlist: module",
    record({ key: { ipAllowlist: ["192.0.2.0/24"] }, tenant: { modules: [] } }),
    everything,
    "MODULE_NOT_ENABLED",
  ],
  [
    "an address off the allowlist and a wrong origin: address",
    record({ key: { ipAllowlist: ["192.0.2.0/24"] } }),
    { ...everything, origin: "https://x.test", clientAddress: () => "198.51.100.1" },
    "IP_NOT_ALLOWED",
  ],
  [
    "a wrong origin and a missing scope: origin",
    record(),
    { ...everything, origin: "https://x.test", scopes: ["a:b"] },
    "ORIGIN_NOT_ALLOWED",
  ],
  [
    "the root key, revoked: revoked (before the root check)",
    record({ key: { isRoot: true, revokedAtMs: NOW } }),
    { refuseRootKey: true },
    "API_KEY_REVOKED",
  ],
  // The root key is the operator's way back in: tenant state, modules, project pinning and scopes never refuse it.
  [
    "the root key of a suspended tenant",
    record({ ...ROOT, tenant: { status: "suspended", modules: [] } }),
    everything,
    "OK",
  ],
  [
    "the root key naming another project",
    record(ROOT),
    { ...everything, projectId: "prj_0000000000000000000002" },
    "OK",
  ],
  ["the root key without any scope", record(ROOT), { scopes: ["anything:at-all"] }, "OK"],
];

describe("decideKeyAccess, step by step", () => {
  for (const [label, candidate, requirement, expected] of rows) {
    test(`${label} → ${expected}`, () => {
      const decision = decideKeyAccess(candidate, requirement, NOW);
      expect(decision === null ? "OK" : decision.code).toBe(expected);
    });
  }
});

describe("the refusals name what they are about", () => {
  test("SCOPE_NOT_GRANTED lists exactly the missing scopes, in the order asked", () => {
    const refusal = decideScopes(["a:b", "c:d"], { scopes: ["x:y", "a:b", "z:z"] });
    expect({ code: refusal?.code, details: refusal?.details }).toEqual({
      code: "SCOPE_NOT_GRANTED",
      details: [
        { path: "scopes", message: "x:y" },
        { path: "scopes", message: "z:z" },
      ],
    });
    expect(decideScopes(["a:b"], { scopes: [] })).toBeNull();
  });

  test("ORIGIN_NOT_ALLOWED names the origin, cut to a bounded length; exact matches only", () => {
    expect(decideOrigin(["https://app.example.com"], "https://app.example.com")).toBeNull();
    expect(decideOrigin(["https://app.example.com"], "https://app.example.com:443")).toMatchObject({
      code: "ORIGIN_NOT_ALLOWED",
    });
    expect(decideOrigin(["https://app.example.com"], "HTTPS://APP.EXAMPLE.COM")).toMatchObject({
      code: "ORIGIN_NOT_ALLOWED",
    });
    const long = `https://${"a".repeat(5000)}.test`;
    const refusal = decideOrigin([], long);
    expect(refusal?.details[0]?.message.length).toBe(2048);
  });

  test("MODULE_NOT_ENABLED names the module", () => {
    const refusal = decideKeyAccess(record({ tenant: { modules: [] } }), { module: "keys" }, NOW);
    expect({ code: refusal?.code, details: refusal?.details }).toEqual({
      code: "MODULE_NOT_ENABLED",
      details: [{ path: "module", message: "keys" }],
    });
  });
});
