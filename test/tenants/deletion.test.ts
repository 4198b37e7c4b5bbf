/**
 * Deleting projects and tenants: their keys are revoked and their tokens die on the next request, in this process and
 * in every other one sharing the database; the records stay, marked deleted, for the audit trail.
 */
import { afterEach, describe, expect, test } from "bun:test";
import {
  createKey,
  createProject,
  createTenant,
  createTenantWithKey,
  expectError,
  mintSession,
  startCliLogin,
} from "../support/keys.ts";
import { forEachTransport, useWorld } from "../support/transports.ts";
import { createWorld, type World } from "../support/world.ts";

/** What a key and a session token minted from it get now, on a management route, verify and forward-auth. */
async function answersFor(world: World, secret: string, token: string) {
  return {
    key: (await world.call("GET", "/v1/keys", { key: secret })).status,
    token: (await world.call("GET", "/v1/keys", { headers: { "x-session-token": token } })).status,
    verifyKey: (await world.call("POST", "/v1/keys/verify", { body: { key: secret } })).body.code,
    verifyToken: (await world.call("POST", "/v1/keys/verify", { body: { token } })).body.code,
    authz: (await world.call("GET", "/v1/authz", { key: secret })).headers.get("x-latchkey-error") ?? "allowed",
  };
}

const LIVE = { key: 200, token: 200, verifyKey: "VALID", verifyToken: "VALID", authz: "allowed" };
const REVOKED = {
  key: 401,
  token: 401,
  verifyKey: "API_KEY_REVOKED",
  verifyToken: "API_KEY_REVOKED",
  authz: "API_KEY_REVOKED",
};

forEachTransport("deleting a project", (transport) => {
  const world = useWorld({ transport });

  test("regression: DELETE /v1/projects/:id revokes its keys, and their tokens die on the next request", async () => {
    const { projectId, key } = await createTenantWithKey(world, ["keys:read"]);
    const token = await mintSession(world, key.secret, { scopes: ["keys:read"] });
    const bystander = await createKey(world, { scopes: ["keys:read"] });
    const bystanderToken = await mintSession(world, bystander.secret, { scopes: ["keys:read"] });
    expect(await answersFor(world, key.secret, token)).toEqual(LIVE); // warm in every cache
    world.clock.advanceSeconds(10);

    const deleted = await world.call("DELETE", `/v1/projects/${projectId}`, { key: world.rootKey });
    expect(deleted.status).toBe(200);
    expect(deleted.body).toMatchObject({ id: projectId, object: "project", deleted_at: "2026-01-01T00:00:10.000Z" });
    expect(await answersFor(world, key.secret, token)).toEqual(REVOKED);
    expect(await answersFor(world, bystander.secret, bystanderToken)).toEqual(LIVE);
    const keyRecord = await world.call("GET", `/v1/keys/${key.id}`, { key: world.rootKey });
    expect(keyRecord.body.revoked_at).toBe("2026-01-01T00:00:10.000Z");
  });

  test("the record is kept: read with deleted_at, listed only when asked, a repeat answers the same", async () => {
    const tenantId = await createTenant(world);
    const [kept, deletedId] = [await createProject(world, tenantId), await createProject(world, tenantId)];
    const deleted = await world.call("DELETE", `/v1/projects/${deletedId}`, { key: world.rootKey });
    world.clock.advanceSeconds(60);
    const again = await world.call("DELETE", `/v1/projects/${deletedId}`, { key: world.rootKey });
    expect(again.body).toEqual(deleted.body);
    expect((await world.call("GET", `/v1/projects/${deletedId}`, { key: world.rootKey })).body).toEqual(deleted.body);
    const ids = async (query: string) =>
      (await world.call("GET", `/v1/projects?${query}`, { key: world.rootKey })).body.data.map(
        (project: { id: string }) => project.id,
      );
    expect(await ids(`tenant_id=${tenantId}`)).toEqual([kept]);
    expect(await ids(`tenant_id=${tenantId}&include_deleted=true`)).toEqual([deletedId, kept]);
    expect(await ids("include_deleted=false")).not.toContain(deletedId);
    const unclear = await world.call("GET", "/v1/projects?include_deleted=maybe", { key: world.rootKey });
    expectError(unclear, 400, "VALIDATION_FAILED");
    expect(unclear.body.error.details[0].path).toBe("include_deleted");
    const live = await world.call("GET", `/v1/projects/${kept}`, { key: world.rootKey });
    expect(live.body.deleted_at).toBeNull();
  });

  test("every deletion is audited: the project's, and each key it revoked", async () => {
    const { projectId, key } = await createTenantWithKey(world, ["runs:read"]);
    await createKey(world, { scopes: ["runs:read"], project_id: projectId, name: "second" });
    await world.call("DELETE", `/v1/projects/${projectId}`, { key: world.rootKey });
    const trail = await world.call("GET", `/v1/audit?project_id=${projectId}`, { key: world.rootKey });
    const actions = trail.body.data.map((event: { action: string }) => event.action);
    expect(actions.slice(0, 3).sort()).toEqual(["key.revoked", "key.revoked", "project.deleted"]);
    const projectEvent = trail.body.data.find((event: { action: string }) => event.action === "project.deleted");
    expect(projectEvent).toMatchObject({ target: { type: "project", id: projectId }, details: { revoked_keys: 2 } });
    expect(projectEvent.actor).toMatchObject({ type: "root_key" });
    const keyEvent = trail.body.data.find(
      (event: { action: string; target: { id: string } }) =>
        event.action === "key.revoked" && event.target.id === key.id,
    );
    expect(keyEvent.details).toEqual({ name: "test key", reason: "project.deleted" });
  });

  test("a deleted project takes no changes, keys, logins or approvals", async () => {
    const tenantId = await createTenant(world);
    const projectId = await createProject(world, tenantId, { cli_default_scopes: ["runs:read"] });
    const pending = await startCliLogin(world, {}, { "x-project-id": projectId });
    await world.call("DELETE", `/v1/projects/${projectId}`, { key: world.rootKey });

    expectError(
      await world.call("PATCH", `/v1/projects/${projectId}`, { key: world.rootKey, body: { name: "x" } }),
      409,
      "CONFLICT",
    );
    const byBody = await world.call("POST", "/v1/keys", {
      key: world.rootKey,
      body: { name: "k", scopes: ["a:b"], project_id: projectId },
    });
    expectError(byBody, 409, "CONFLICT");
    expect(byBody.body.error.details).toEqual([{ path: "project_id", message: "names a deleted project" }]);
    const byHeader = await world.call("POST", "/v1/keys", {
      key: world.rootKey,
      body: { name: "k", scopes: ["a:b"] },
      headers: { "x-project-id": projectId },
    });
    expectError(byHeader, 409, "CONFLICT");
    // Starting a login there is unauthenticated: a deleted project is as unknown as one that never was.
    const started = await world.call("POST", "/v1/api/auth/sessions", {
      body: { deviceName: "laptop" },
      headers: { "x-project-id": projectId },
    });
    expect({ status: started.status, code: started.body.code }).toEqual({ status: 404, code: "NOT_FOUND" });
    const approved = await world.call("POST", `/v1/api/auth/codes/${pending.userCode}/approve`, {
      key: world.rootKey,
      body: { user_id: "u" },
    });
    expect({ status: approved.status, code: approved.body.error?.code }).toEqual({ status: 409, code: "CONFLICT" });
    const keys = await world.call("GET", `/v1/keys?project_id=${projectId}`, { key: world.rootKey });
    expect(keys.body.data).toEqual([]);
  });

  test("a deleted project's origins are no longer answered for CORS", async () => {
    const origin = "https://app.example.com";
    const projectId = await createProject(world, await createTenant(world), { allowed_origins: [origin] });
    const preflight = () =>
      world.call("OPTIONS", "/v1/keys", {
        headers: { origin, "access-control-request-method": "POST" },
      });
    expect((await preflight()).status).toBe(204);
    await world.call("DELETE", `/v1/projects/${projectId}`, { key: world.rootKey });
    expectError(await preflight(), 403, "ORIGIN_NOT_ALLOWED");
  });

  test("the default project cannot be deleted (409), and nothing changes", async () => {
    const answer = await world.call("DELETE", `/v1/projects/${world.defaultProjectId}`, { key: world.rootKey });
    expectError(answer, 409, "CONFLICT");
    const read = await world.call("GET", `/v1/projects/${world.defaultProjectId}`, { key: world.rootKey });
    expect(read.body.deleted_at).toBeNull();
    expect((await world.call("GET", "/v1/keys", { key: world.rootKey })).status).toBe(200);
  });

  test("only the root key deletes: a project key, even with keys:write, or a session token is refused", async () => {
    const { projectId, key } = await createTenantWithKey(world, ["keys:read", "keys:write"]);
    const token = await mintSession(world, key.secret, { scopes: ["keys:read"] });
    expectError(await world.call("DELETE", `/v1/projects/${projectId}`, { key: key.secret }), 403, "SCOPE_NOT_GRANTED");
    expectError(
      await world.call("DELETE", `/v1/projects/${projectId}`, { headers: { "x-session-token": token } }),
      403,
      "SCOPE_NOT_GRANTED",
    );
    expectError(await world.call("DELETE", `/v1/projects/${projectId}`), 401, "API_KEY_REQUIRED");
    expect((await world.call("GET", "/v1/keys", { key: key.secret })).status).toBe(200);
  });

  test("an unknown project is 404 and a malformed id 400", async () => {
    expectError(
      await world.call("DELETE", "/v1/projects/prj_0000000000000000000000", { key: world.rootKey }),
      404,
      "NOT_FOUND",
    );
    const malformed = await world.call("DELETE", "/v1/projects/ten_0000000000000000000000", { key: world.rootKey });
    expectError(malformed, 400, "VALIDATION_FAILED");
    expect(malformed.body.error.details[0].path).toBe("id");
  });
});

forEachTransport("deleting a tenant", (transport) => {
  const world = useWorld({ transport });

  test("regression: DELETE /v1/tenants/:id deletes its projects; their keys and tokens die at once", async () => {
    const { tenantId, projectId, key } = await createTenantWithKey(world, ["keys:read"]);
    const secondProject = await createProject(world, tenantId);
    const second = await createKey(world, { scopes: ["keys:read"], project_id: secondProject });
    const token = await mintSession(world, key.secret, { scopes: ["keys:read"] });
    const secondToken = await mintSession(world, second.secret, { scopes: ["keys:read"] });
    expect(await answersFor(world, key.secret, token)).toEqual(LIVE);
    expect(await answersFor(world, second.secret, secondToken)).toEqual(LIVE);

    const deleted = await world.call("DELETE", `/v1/tenants/${tenantId}`, { key: world.rootKey });
    expect(deleted.status).toBe(200);
    expect(deleted.body).toMatchObject({ id: tenantId, object: "tenant", deleted_at: "2026-01-01T00:00:00.000Z" });
    expect(await answersFor(world, key.secret, token)).toEqual(REVOKED);
    expect(await answersFor(world, second.secret, secondToken)).toEqual(REVOKED);
    for (const id of [projectId, secondProject]) {
      const project = await world.call("GET", `/v1/projects/${id}`, { key: world.rootKey });
      expect(project.body.deleted_at).toBe("2026-01-01T00:00:00.000Z");
    }
    const tenants = await world.call("GET", "/v1/tenants", { key: world.rootKey });
    expect(tenants.body.data.map((tenant: { id: string }) => tenant.id)).toEqual([world.defaultTenantId]);
    const all = await world.call("GET", "/v1/tenants?include_deleted=true", { key: world.rootKey });
    expect(all.body.data.map((tenant: { id: string }) => tenant.id)).toEqual([tenantId, world.defaultTenantId]);
    const trail = await world.call("GET", `/v1/audit?tenant_id=${tenantId}&action=tenant.deleted`, {
      key: world.rootKey,
    });
    expect(trail.body.data[0].details).toEqual({ name: "acme", deleted_projects: 2, revoked_keys: 2 });
    const projectEvents = await world.call("GET", `/v1/audit?tenant_id=${tenantId}&action=project.deleted`, {
      key: world.rootKey,
    });
    expect(projectEvents.body.data.length).toBe(2);
  });

  test("a deleted tenant takes no changes and no projects; deleting it again answers the same", async () => {
    const tenantId = await createTenant(world);
    const deleted = await world.call("DELETE", `/v1/tenants/${tenantId}`, { key: world.rootKey });
    world.clock.advanceSeconds(5);
    expect((await world.call("DELETE", `/v1/tenants/${tenantId}`, { key: world.rootKey })).body).toEqual(deleted.body);
    expect((await world.call("GET", `/v1/tenants/${tenantId}`, { key: world.rootKey })).body).toEqual(deleted.body);
    expectError(
      await world.call("PATCH", `/v1/tenants/${tenantId}`, { key: world.rootKey, body: { status: "active" } }),
      409,
      "CONFLICT",
    );
    const project = await world.call("POST", "/v1/projects", {
      key: world.rootKey,
      body: { tenant_id: tenantId, name: "late" },
    });
    expectError(project, 409, "CONFLICT");
    expect(project.body.error.details).toEqual([{ path: "tenant_id", message: "names a deleted tenant" }]);
  });

  test("the default tenant cannot be deleted (409), and the root key keeps working", async () => {
    expectError(
      await world.call("DELETE", `/v1/tenants/${world.defaultTenantId}`, { key: world.rootKey }),
      409,
      "CONFLICT",
    );
    const read = await world.call("GET", `/v1/tenants/${world.defaultTenantId}`, { key: world.rootKey });
    expect(read.body.deleted_at).toBeNull();
    expect((await world.call("GET", "/v1/keys", { key: world.rootKey })).status).toBe(200);
  });

  test("an unknown tenant is 404, and a project key may not delete its own tenant", async () => {
    expectError(
      await world.call("DELETE", "/v1/tenants/ten_0000000000000000000000", { key: world.rootKey }),
      404,
      "NOT_FOUND",
    );
    const { tenantId, key } = await createTenantWithKey(world, ["keys:write"]);
    expectError(await world.call("DELETE", `/v1/tenants/${tenantId}`, { key: key.secret }), 403, "SCOPE_NOT_GRANTED");
  });
});

describe("a deletion reaches every process sharing the database", () => {
  const worlds: World[] = [];
  afterEach(async () => {
    for (const world of worlds.splice(0).reverse()) await world.close();
  });

  test("regression: a project deleted through one process refuses its warm keys and tokens in another", async () => {
    const first = await createWorld({ shareable: true });
    worlds.push(first);
    const second = await createWorld({ joining: first });
    worlds.push(second);
    const inProject = await createTenantWithKey(first, ["keys:read"]);
    const inTenant = await createTenantWithKey(first, ["keys:read"]);
    const tokens = [
      await mintSession(first, inProject.key.secret, { scopes: ["keys:read"] }),
      await mintSession(first, inTenant.key.secret, { scopes: ["keys:read"] }),
    ];
    expect(await answersFor(second, inProject.key.secret, tokens[0]!)).toEqual(LIVE); // warm in the second
    expect(await answersFor(second, inTenant.key.secret, tokens[1]!)).toEqual(LIVE);

    await first.call("DELETE", `/v1/projects/${inProject.projectId}`, { key: first.rootKey });
    await first.call("DELETE", `/v1/tenants/${inTenant.tenantId}`, { key: first.rootKey });
    expect(await second.deps.changeLog.catchUp()).toBe(true);
    expect(await answersFor(second, inProject.key.secret, tokens[0]!)).toEqual(REVOKED);
    expect(await answersFor(second, inTenant.key.secret, tokens[1]!)).toEqual(REVOKED);
  });
});
