/**
 * One truth: three nodes started together on an empty database agree on everything written through any of them.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { useBuiltBinary } from "../support/binary.ts";
import { Cluster, SCALE_ENABLED, SCALE_NOTE, waitUntil } from "./cluster.ts";

const built = useBuiltBinary("scale-truth");

describe.skipIf(!SCALE_ENABLED)(`one truth ${SCALE_NOTE}`, () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await Cluster.start(built.path);
  }, 60_000);
  afterAll(() => cluster?.close(), 30_000);

  test("nodes starting at once on an empty database migrate it once and create one root key", async () => {
    const migrations = await cluster.query("SELECT tag FROM latchkey_migrations");
    expect(new Set(migrations.map((row) => row.tag)).size).toBe(migrations.length);
    expect(await cluster.query("SELECT id FROM api_keys WHERE is_root")).toHaveLength(1);
    expect(await cluster.query("SELECT id FROM tenants WHERE is_default")).toHaveLength(1);
    expect(await cluster.query("SELECT kid FROM signing_keys")).toHaveLength(1);
    // LATCHKEY_ROOT_KEY was given to every node: no node prints a generated one.
    for (const node of cluster.nodes) expect(node!.stdout()).not.toContain("lk_root_");
    for (const index of [0, 1, 2]) expect((await cluster.call(index, "GET", "/readyz")).status).toBe(200);
  });

  test("a key created on one node is valid on every node at once; its revocation everywhere", async () => {
    const key = await cluster.createKey(0);
    for (const index of [0, 1, 2]) expect(await cluster.verifyCode(index, key.secret)).toBe("VALID");
    await cluster.call(1, "DELETE", `/v1/keys/${key.id}`, { key: cluster.rootKey });
    for (const index of [0, 1, 2]) {
      await waitUntil(async () => (await cluster.verifyCode(index, key.secret)) === "API_KEY_REVOKED", 1000, "revoked");
    }
  });

  test("tenants, projects and their keys written on one node are read on the others", async () => {
    const tenant = await cluster.call(1, "POST", "/v1/tenants", { key: cluster.rootKey, body: { name: "acme" } });
    expect(tenant.status).toBe(200);
    const project = await cluster.call(2, "POST", "/v1/projects", {
      key: cluster.rootKey,
      body: { tenant_id: tenant.body.id, name: "api", allowed_origins: ["https://app.acme.example"] },
    });
    expect(project.status).toBe(200);
    const key = await cluster.createKey(0, { project_id: project.body.id });
    for (const index of [0, 1, 2]) {
      expect((await cluster.call(index, "GET", `/v1/tenants/${tenant.body.id}`, { key: cluster.rootKey })).status).toBe(
        200,
      );
      const listed = await cluster.call(index, "GET", "/v1/keys", {
        key: cluster.rootKey,
        headers: { "x-project-id": project.body.id },
      });
      expect(listed.body.data.map((row: { id: string }) => row.id)).toContain(key.id);
    }
    // The new project's origin is allowed by every node's CORS, which learned it from the change feed.
    for (const index of [0, 1, 2]) {
      await waitUntil(
        async () =>
          (
            await cluster.call(index, "GET", "/healthz", { headers: { origin: "https://app.acme.example" } })
          ).headers.get("access-control-allow-origin") === "https://app.acme.example",
        1000,
        `node ${index} allows the new origin`,
      );
    }
    // Suspending the tenant on one node refuses its keys on every node.
    await cluster.call(0, "PATCH", `/v1/tenants/${tenant.body.id}`, {
      key: cluster.rootKey,
      body: { status: "suspended" },
    });
    for (const index of [0, 1, 2]) {
      await waitUntil(
        async () => (await cluster.verifyCode(index, key.secret)) === "TENANT_SUSPENDED",
        1000,
        "suspended",
      );
    }
  });

  test("a CLI login started on one node is approved on another and collected on a third", async () => {
    const approver = await cluster.createKey(0, { scopes: ["cli:approve", "runs:read"] });
    const started = await cluster.call(0, "POST", "/v1/api/auth/sessions", { body: { deviceName: "laptop" } });
    expect(started.status).toBe(201);
    const approved = await cluster.call(1, "POST", `/v1/api/auth/codes/${started.body.userCode}/approve`, {
      key: approver.secret,
      body: { user_id: "u1", scopes: ["runs:read"] },
    });
    expect(approved.status).toBe(200);
    const polled = await cluster.call(2, "GET", `/v1/api/auth/sessions/${started.body.sessionId}`);
    expect(polled.body.status).toBe("completed");
    expect(await cluster.verifyCode(0, polled.body.apiKey)).toBe("VALID");
  });

  test("audit events written through any node are listed by every node", async () => {
    const key = await cluster.createKey(2);
    for (const index of [0, 1, 2]) {
      const audit = await cluster.call(index, "GET", "/v1/audit?action=key.created", { key: cluster.rootKey });
      expect(audit.body.data.some((event: { target: { id: string } }) => event.target.id === key.id)).toBe(true);
    }
  });

  test("a signing-key rotation on one node: every JWKS lists both at once; every node signs with it", async () => {
    const before = (await cluster.call(0, "GET", "/.well-known/jwks.json")).body.keys.map(
      (key: { kid: string }) => key.kid,
    );
    const rotated = await cluster.call(0, "POST", "/v1/signing-keys/rotate", {
      key: cluster.rootKey,
      body: { activate_in_seconds: 1 },
    });
    expect(rotated.status).toBe(200);
    const kid = rotated.body.kid;
    for (const index of [0, 1, 2]) {
      await waitUntil(
        async () => {
          const kids = (await cluster.call(index, "GET", "/.well-known/jwks.json")).body.keys.map(
            (key: { kid: string }) => key.kid,
          );
          return kids.includes(kid) && before.every((old: string) => kids.includes(old));
        },
        1000,
        `node ${index} publishes both keys`,
      );
    }
    await Bun.sleep(1100);
    const parent = await cluster.createKey(0);
    for (const index of [0, 1, 2]) {
      const minted = await cluster.call(index, "POST", "/v1/sessions", { key: parent.secret, body: { user_id: "u" } });
      expect(minted.status).toBe(200);
      const header = JSON.parse(Buffer.from(minted.body.token.split(".")[0], "base64url").toString());
      expect(header.kid).toBe(kid);
    }
  });
});
