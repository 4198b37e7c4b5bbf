import { expect, test } from "bun:test";
import { Project, Tenant, UpdateProjectBody, UpdateTenantBody } from "../../src/api/tenants/schemas.ts";
import { createProject, createTenant, expectError } from "../support/keys.ts";
import { forEachTransport, useWorld } from "../support/transports.ts";

test("every field GET answers for a tenant or a project is a field its PATCH takes", () => {
  const notTaken = (answered: object, taken: object) => Object.keys(answered).filter((field) => !(field in taken));
  expect(notTaken(Tenant.shape, UpdateTenantBody.shape)).toEqual([]);
  expect(notTaken(Project.shape, UpdateProjectBody.shape)).toEqual([]);
  expect(notTaken(Project.shape.cli.shape, UpdateProjectBody.shape.cli.unwrap().shape)).toEqual([]);
});

forEachTransport("read-modify-write of tenants and projects", (transport) => {
  const world = useWorld({ transport });

  test("regression: what GET /v1/projects/:id returns, PATCH accepts back changed (cli settings nested)", async () => {
    const projectId = await createProject(world, await createTenant(world));
    const read = await world.call("GET", `/v1/projects/${projectId}`, { key: world.rootKey });
    world.clock.advanceSeconds(5);
    const edited = {
      ...read.body,
      name: "renamed",
      ratelimit: { limit: 50, window_seconds: 10 },
      cli: { ...read.body.cli, session_ttl_seconds: 120, default_scopes: ["runs:read"], loopback_http: false },
    };
    const patched = await world.call("PATCH", `/v1/projects/${projectId}`, { key: world.rootKey, body: edited });
    expect(patched.status).toBe(200);
    expect(patched.body).toEqual({ ...edited, updated_at: "2026-01-01T00:00:05.000Z" });
    const again = await world.call("GET", `/v1/projects/${projectId}`, { key: world.rootKey });
    expect(again.body).toEqual(patched.body);
    // Sending back exactly what was read changes nothing, not even updated_at.
    world.clock.advanceSeconds(5);
    const unchanged = await world.call("PATCH", `/v1/projects/${projectId}`, { key: world.rootKey, body: again.body });
    expect(unchanged.body).toEqual(again.body);
  });

  test("the flat cli_* names keep working, and agree with the nested ones when both are sent", async () => {
    const projectId = await createProject(world, await createTenant(world), { cli_key_ttl_seconds: 3600 });
    const flat = await world.call("PATCH", `/v1/projects/${projectId}`, {
      key: world.rootKey,
      body: { cli_session_ttl_seconds: 300, cli_default_scopes: ["a:b"] },
    });
    expect(flat.body.cli).toMatchObject({ session_ttl_seconds: 300, key_ttl_seconds: 3600, default_scopes: ["a:b"] });
    const both = await world.call("PATCH", `/v1/projects/${projectId}`, {
      key: world.rootKey,
      body: { cli_session_ttl_seconds: 400, cli: { session_ttl_seconds: 400, default_scopes: null } },
    });
    expect(both.body.cli).toMatchObject({ session_ttl_seconds: 400, default_scopes: null });
    const created = await world.call("POST", "/v1/projects", {
      key: world.rootKey,
      body: { tenant_id: both.body.tenant_id, name: "nested", cli: { poll_interval_seconds: 9 } },
    });
    expect(created.body.cli.poll_interval_seconds).toBe(9);
  });

  const refusals: [string, Record<string, unknown>, string, string][] = [
    [
      "two spellings that disagree",
      { cli_session_ttl_seconds: 300, cli: { session_ttl_seconds: 301 } },
      "cli.session_ttl_seconds",
      "disagrees with cli_session_ttl_seconds",
    ],
    [
      "a nested setting out of bounds",
      { cli: { poll_interval_seconds: 0 } },
      "cli.poll_interval_seconds",
      "must be an integer from 1 to 60",
    ],
    ["an unknown nested field", { cli: { ttl: 5 } }, "cli.ttl", "is not a recognised field"],
    ["another tenant_id", { tenant_id: "ten_0000000000000000000000" }, "tenant_id", "is read-only: cannot be changed"],
    ["another id", { id: "prj_0000000000000000000000" }, "id", "is read-only: cannot be changed"],
    ["another is_default", { is_default: true }, "is_default", "is read-only: cannot be changed"],
    ["another created_at", { created_at: "2020-01-01T00:00:00.000Z" }, "created_at", "is read-only: cannot be changed"],
    ["another object", { object: "tenant" }, "object", "must be one of project"],
  ];
  for (const [label, body, path, message] of refusals) {
    test(`a project PATCH with ${label} is 400 at ${path} and changes nothing`, async () => {
      const projectId = await createProject(world, await createTenant(world));
      const before = await world.call("GET", `/v1/projects/${projectId}`, { key: world.rootKey });
      const answer = await world.call("PATCH", `/v1/projects/${projectId}`, {
        key: world.rootKey,
        body: { name: "changed", ...body },
      });
      expectError(answer, 400, "VALIDATION_FAILED");
      expect(answer.body.error.details).toContainEqual({ path, message });
      expect((await world.call("GET", `/v1/projects/${projectId}`, { key: world.rootKey })).body).toEqual(before.body);
    });
  }

  test("a stale updated_at is ignored: the server sets it", async () => {
    const projectId = await createProject(world, await createTenant(world));
    const answer = await world.call("PATCH", `/v1/projects/${projectId}`, {
      key: world.rootKey,
      body: { name: "x", updated_at: "2020-01-01T00:00:00.000Z" },
    });
    expect(answer.status).toBe(200);
    expect(answer.body.updated_at).toBe("2026-01-01T00:00:00.000Z");
  });

  test("regression: what GET /v1/tenants/:id returns, PATCH accepts back changed", async () => {
    const tenantId = await createTenant(world);
    const read = await world.call("GET", `/v1/tenants/${tenantId}`, { key: world.rootKey });
    const edited = { ...read.body, name: "Acme Inc", subscription: "past_due" };
    const patched = await world.call("PATCH", `/v1/tenants/${tenantId}`, { key: world.rootKey, body: edited });
    expect(patched.status).toBe(200);
    expect(patched.body).toEqual(edited);
    const moved = await world.call("PATCH", `/v1/tenants/${tenantId}`, {
      key: world.rootKey,
      body: { ...edited, is_default: true },
    });
    expectError(moved, 400, "VALIDATION_FAILED");
    expect(moved.body.error.details).toEqual([{ path: "is_default", message: "is read-only: cannot be changed" }]);
  });
});
