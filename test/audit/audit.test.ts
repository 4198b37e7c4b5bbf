import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { createKey, createTenantWithKey, expectError } from "../support/keys.ts";
import { createWorld, type World } from "../support/world.ts";

describe("GET /v1/audit", () => {
  let world: World;
  beforeEach(async () => {
    world = await createWorld();
  });
  afterEach(() => world.close());

  test("records who changed what, when and from where, newest first", async () => {
    const { tenantId, projectId, key } = await createTenantWithKey(world, ["keys:write", "runs:read"]);
    world.clock.advanceSeconds(1);
    await world.call("PATCH", `/v1/tenants/${tenantId}`, { key: world.rootKey, body: { subscription: "past_due" } });
    await world.call("PATCH", `/v1/tenants/${tenantId}`, { key: world.rootKey, body: { subscription: "active" } });
    const child = await createKey(world, { scopes: ["runs:read"], by: key.secret });
    await world.call("POST", `/v1/keys/${child.id}/rotate`, { key: key.secret, body: { grace_seconds: 5 } });
    await world.call("DELETE", `/v1/keys/${child.id}`, {
      key: key.secret,
      headers: { "user-agent": "ops-console/1.0", "x-request-id": "trace-revoke-0001" },
    });

    const answer = await world.call("GET", `/v1/audit?tenant_id=${tenantId}`, { key: world.rootKey });
    expect(answer.status).toBe(200);
    expect(answer.body.data.map((event: { action: string }) => event.action)).toEqual([
      "key.revoked",
      "key.rotated",
      "key.created",
      "tenant.updated",
      "tenant.updated",
      "key.created",
      "project.created",
      "tenant.created",
    ]);
    const revoked = answer.body.data[0];
    expect(revoked).toMatchObject({
      object: "audit_event",
      actor: { type: "api_key", id: key.id },
      target: { type: "api_key", id: child.id },
      tenant_id: tenantId,
      project_id: projectId,
      user_agent: "ops-console/1.0",
      request_id: "trace-revoke-0001",
      occurred_at: "2026-01-01T00:00:01.000Z",
    });
    const update = answer.body.data[4];
    expect(update.actor.type).toBe("root_key");
    expect(update.details).toEqual({ before: { subscription: "active" }, after: { subscription: "past_due" } });
  });

  test("no secret ever reaches the audit trail", async () => {
    const key = await createKey(world, { scopes: ["keys:write"] });
    const rotated = await world.call("POST", `/v1/keys/${key.id}/rotate`, { key: world.rootKey });
    const answer = await world.call("GET", "/v1/audit?limit=100", { key: world.rootKey });
    for (const secret of [world.rootKey, key.secret, rotated.body.secret]) expect(answer.text).not.toContain(secret);
  });

  test("a change that changes nothing is not recorded", async () => {
    await world.call("PATCH", `/v1/tenants/${world.defaultTenantId}`, {
      key: world.rootKey,
      body: { status: "active" },
    });
    const answer = await world.call("GET", "/v1/audit?action=tenant.updated", { key: world.rootKey });
    expect(answer.body.data).toEqual([]);
  });

  test("is for the root key only, and filters are validated", async () => {
    const key = await createKey(world, { scopes: ["keys:read"] });
    expectError(await world.call("GET", "/v1/audit", { key: key.secret }), 403, "SCOPE_NOT_GRANTED");
    expectError(
      await world.call("GET", "/v1/audit?action=key.exploded", { key: world.rootKey }),
      400,
      "VALIDATION_FAILED",
    );
  });

  test("pages with a cursor through every event exactly once", async () => {
    for (let index = 0; index < 3; index++) await createKey(world, { scopes: ["a:b"] });
    const everything = await world.call("GET", "/v1/audit?limit=100", { key: world.rootKey });
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { data: { id: string }[]; next_cursor: string | null } } = await world.call(
        "GET",
        `/v1/audit?limit=2${cursor ? `&cursor=${cursor}` : ""}`,
        { key: world.rootKey },
      );
      expect(page.body.data.length).toBeLessThanOrEqual(2);
      paged.push(...page.body.data.map((event) => event.id));
      cursor = page.body.next_cursor;
    } while (cursor !== null);
    expect(paged).toEqual(everything.body.data.map((event: { id: string }) => event.id));
    expect(paged.length).toBeGreaterThanOrEqual(4);
  });
});
