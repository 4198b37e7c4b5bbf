/**
 * The root key is the operator's way in: it manages every project, is refused wherever an API credential is
 * expected, follows X-Project-Id instead of ignoring it, and no setting can lock it out.
 */
import { expect, test } from "bun:test";
import { createKey, createProject, createTenant, expectError } from "../support/keys.ts";
import { forEachTransport, useWorld } from "../support/transports.ts";

forEachTransport("the root key", (transport) => {
  const world = useWorld({ transport });

  test("regression: with X-Project-Id the root key acts in that project, not silently in the default one", async () => {
    const otherProject = await createProject(world, await createTenant(world));
    const inOther = await createKey(world, { scopes: ["runs:read"], project_id: otherProject, name: "in other" });
    await createKey(world, { scopes: ["runs:read"], name: "in default" });
    const pinned = { "x-project-id": otherProject };
    const listed = await world.call("GET", "/v1/keys", { key: world.rootKey, headers: pinned });
    expect(listed.status).toBe(200);
    expect(listed.body.data.map((key: { name: string }) => key.name)).toEqual(["in other"]);
    const created = await world.call("POST", "/v1/keys", {
      key: world.rootKey,
      headers: pinned,
      body: { name: "made", scopes: ["a:b"] },
    });
    expect(created.body.project_id).toBe(otherProject);
    expect((await world.call("GET", `/v1/keys/${inOther.id}`, { key: world.rootKey, headers: pinned })).status).toBe(
      200,
    );
    const defaultsKey = (await world.call("GET", "/v1/keys", { key: world.rootKey })).body.data.find(
      (key: { name: string }) => key.name === "in default",
    );
    expectError(
      await world.call("GET", `/v1/keys/${defaultsKey.id}`, { key: world.rootKey, headers: pinned }),
      404,
      "NOT_FOUND",
    );
    const elsewhere = await world.call("GET", `/v1/keys?project_id=${world.defaultProjectId}`, {
      key: world.rootKey,
      headers: pinned,
    });
    expectError(elsewhere, 404, "NOT_FOUND");
    const unknown = await world.call("GET", "/v1/keys", {
      key: world.rootKey,
      headers: { "x-project-id": "prj_0000000000000000000000" },
    });
    expectError(unknown, 404, "NOT_FOUND");
    expect(unknown.body.error.details).toEqual([{ path: "X-Project-Id", message: "no project has this id" }]);
  });

  test("regression: X-Project-Id on a root-only route is refused (400), not ignored", async () => {
    const answer = await world.call("GET", "/v1/tenants", {
      key: world.rootKey,
      headers: { "x-project-id": world.defaultProjectId },
    });
    expectError(answer, 400, "VALIDATION_FAILED");
    expect(answer.body.error.details[0].path).toBe("X-Project-Id");
  });

  test("regression: the root key's bucket cannot be set (409), and no project default locks it out", async () => {
    const rootId = (await world.call("GET", "/v1/keys", { key: world.rootKey })).body.data.find(
      (key: { root: boolean }) => key.root,
    ).id;
    const locked = await world.call("PATCH", `/v1/keys/${rootId}`, {
      key: world.rootKey,
      body: { ratelimit: { limit: 1, window_seconds: 86_400 } },
    });
    expectError(locked, 409, "CONFLICT");
    expect(locked.body.error.details).toEqual([{ path: "ratelimit", message: "cannot be set on the root key" }]);
    expect(
      (await world.call("PATCH", `/v1/keys/${rootId}`, { key: world.rootKey, body: { ratelimit: null } })).status,
    ).toBe(409);
    expect(
      (await world.call("PATCH", `/v1/keys/${rootId}`, { key: world.rootKey, body: { name: "operator" } })).status,
    ).toBe(200);
    await world.call("PATCH", `/v1/projects/${world.defaultProjectId}`, {
      key: world.rootKey,
      body: { ratelimit: { limit: 1, window_seconds: 86_400 } },
    });
    for (let call = 0; call < 20; call++) {
      expect((await world.call("GET", "/v1/tenants", { key: world.rootKey })).status).toBe(200);
    }
    const project = await world.call("PATCH", `/v1/projects/${world.defaultProjectId}`, {
      key: world.rootKey,
      body: { ratelimit: { limit: 1000, window_seconds: 60 } },
    });
    expect(project.status).toBe(200);
  });

  test("a root key whose row was given a bucket by an earlier version is still usable", async () => {
    await world.query("UPDATE api_keys SET ratelimit_limit = 1, ratelimit_window_seconds = 86400 WHERE is_root = ?", [
      true,
    ]);
    world.deps.credentials.clear();
    for (let call = 0; call < 5; call++)
      expect((await world.call("GET", "/v1/tenants", { key: world.rootKey })).status).toBe(200);
  });

  test("regression: session tokens are never minted from the root key", async () => {
    const endUser = await world.call("POST", "/v1/sessions", {
      key: world.rootKey,
      body: { user_id: "u", scopes: ["runs:write"] },
    });
    expectError(endUser, 403, "ROOT_KEY_NOT_ALLOWED");
    await world.call("PATCH", `/v1/projects/${world.defaultProjectId}`, {
      key: world.rootKey,
      body: { allowed_origins: ["https://app.example.com"] },
    });
    const browser = await world.call("POST", "/api/v1/sessions", {
      key: world.rootKey,
      headers: { origin: "https://app.example.com" },
    });
    expectError(browser, 403, "ROOT_KEY_NOT_ALLOWED");
  });
});
