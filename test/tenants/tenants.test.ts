import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { createKey, createTenantWithKey, expectError } from "../support/keys.ts";
import { forEachTransport, useWorld } from "../support/transports.ts";
import { createWorld, type World } from "../support/world.ts";

forEachTransport("tenants", (transport) => {
  const world = useWorld({ transport });

  test("create, read, list and update a tenant", async () => {
    const created = await world.call("POST", "/v1/tenants", { key: world.rootKey, body: { name: "Acme" } });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({
      object: "tenant",
      name: "Acme",
      status: "active",
      subscription: "active",
      modules: ["keys", "sessions", "cli_login", "verify"],
      is_default: false,
    });
    expect(created.body.id).toMatch(/^ten_/);
    const read = await world.call("GET", `/v1/tenants/${created.body.id}`, { key: world.rootKey });
    expect(read.body).toEqual(created.body);
    world.clock.advanceSeconds(5);
    const updated = await world.call("PATCH", `/v1/tenants/${created.body.id}`, {
      key: world.rootKey,
      body: { name: "Acme Inc", subscription: "past_due", modules: ["verify", "keys"] },
    });
    expect(updated.body).toMatchObject({
      name: "Acme Inc",
      subscription: "past_due",
      modules: ["keys", "verify"],
      updated_at: "2026-01-01T00:00:05.000Z",
    });
    const listed = await world.call("GET", "/v1/tenants?limit=1", { key: world.rootKey });
    expect(listed.body.data.map((tenant: { id: string }) => tenant.id)).toEqual([created.body.id]);
    const rest = await world.call("GET", `/v1/tenants?cursor=${listed.body.next_cursor}`, { key: world.rootKey });
    expect(rest.body.data.map((tenant: { id: string }) => tenant.id)).toEqual([world.defaultTenantId]);
    expect(rest.body.next_cursor).toBeNull();
  });

  test("bad tenant input is 400 and unknown tenants are 404", async () => {
    for (const body of [
      {},
      { name: "" },
      { name: "x", status: "paused" },
      { name: "x", modules: ["billing"] },
      { name: "x", id: "ten_x" },
    ]) {
      expectError(await world.call("POST", "/v1/tenants", { key: world.rootKey, body }), 400, "VALIDATION_FAILED");
    }
    expectError(
      await world.call("PATCH", "/v1/tenants/ten_0000000000000000000000", {
        key: world.rootKey,
        body: { name: "x" },
      }),
      404,
      "NOT_FOUND",
    );
    expectError(
      await world.call("GET", "/v1/tenants/ten_0000000000000000000000", { key: world.rootKey }),
      404,
      "NOT_FOUND",
    );
  });
});

describe("tenant state applies on the very next request of every key of the tenant", () => {
  let world: World;
  beforeEach(async () => {
    world = await createWorld();
  });
  afterEach(() => world.close());

  const refusals: [string, Record<string, unknown>, string][] = [
    ["suspending", { status: "suspended" }, "TENANT_SUSPENDED"],
    ["cancelling the subscription", { subscription: "cancelled" }, "SUBSCRIPTION_CANCELLED"],
    ["a past-due subscription", { subscription: "past_due" }, "SUBSCRIPTION_PAST_DUE"],
    ["disabling the keys module", { modules: ["sessions", "cli_login", "verify"] }, "MODULE_NOT_ENABLED"],
  ];

  for (const [label, change, code] of refusals) {
    test(`${label} → 403 ${code}, and restoring it lets the key back in`, async () => {
      const { tenantId, key } = await createTenantWithKey(world, ["keys:read"]);
      const bystander = await createKey(world, { scopes: ["keys:read"] });
      expect((await world.call("GET", "/v1/keys", { key: key.secret })).status).toBe(200);
      await world.call("PATCH", `/v1/tenants/${tenantId}`, { key: world.rootKey, body: change });
      expectError(await world.call("GET", "/v1/keys", { key: key.secret }), 403, code);
      expect((await world.call("GET", "/v1/keys", { key: bystander.secret })).status).toBe(200);
      await world.call("PATCH", `/v1/tenants/${tenantId}`, {
        key: world.rootKey,
        body: { status: "active", subscription: "active", modules: ["keys", "sessions", "cli_login", "verify"] },
      });
      expect((await world.call("GET", "/v1/keys", { key: key.secret })).status).toBe(200);
    });
  }

  test("tenant status is checked after revocation and expiry, in the documented order", async () => {
    const { tenantId, key } = await createTenantWithKey(world, ["keys:read"]);
    await world.call("PATCH", `/v1/tenants/${tenantId}`, { key: world.rootKey, body: { status: "suspended" } });
    await world.call("DELETE", `/v1/keys/${key.id}`, { key: world.rootKey });
    expectError(await world.call("GET", "/v1/keys", { key: key.secret }), 401, "API_KEY_REVOKED");
  });

  test("suspension outranks a missing scope", async () => {
    const { tenantId, key } = await createTenantWithKey(world, ["runs:read"]);
    await world.call("PATCH", `/v1/tenants/${tenantId}`, { key: world.rootKey, body: { status: "suspended" } });
    expectError(await world.call("GET", "/v1/keys", { key: key.secret }), 403, "TENANT_SUSPENDED");
  });

  test("suspending the default tenant never locks out the root key", async () => {
    await world.call("PATCH", `/v1/tenants/${world.defaultTenantId}`, {
      key: world.rootKey,
      body: { status: "suspended", modules: [] },
    });
    expect((await world.call("GET", "/v1/keys", { key: world.rootKey })).status).toBe(200);
  });
});
