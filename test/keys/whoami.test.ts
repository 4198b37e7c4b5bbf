/**
 * POST /v1/keys/whoami: "which key is this?" answers the record of the key a secret belongs to, never the secret,
 * under the visibility rule of reading a key by id; anything it may not or cannot name is one answer, 404.
 */
import { expect, test } from "bun:test";
import { createKey, createTenantWithKey, expectError } from "../support/keys.ts";
import { forEachTransport, useWorld } from "../support/transports.ts";

forEachTransport("which key is this", (transport) => {
  const world = useWorld({ transport });
  const whoami = (by: string, body: unknown) => world.call("POST", "/v1/keys/whoami", { key: by, body });

  test("names the key of a secret for the root key and a keys:read key of its project, never echoing it", async () => {
    const key = await createKey(world, { scopes: ["runs:read"], owner: "user_7" });
    const reader = await createKey(world, { scopes: ["keys:read"] });
    for (const by of [world.rootKey, reader.secret]) {
      const answer = await whoami(by, { key: key.secret });
      expect(answer.status).toBe(200);
      expect({ id: answer.body.id, owner: answer.body.owner, object: answer.body.object }).toEqual({
        id: key.id,
        owner: "user_7",
        object: "api_key",
      });
      expect(answer.text).not.toContain(key.secret);
      expect(answer.body.secret).toBeUndefined();
    }
  });

  test("malformed, unknown, another project's key and the root key are all 404 to a project key", async () => {
    const reader = await createKey(world, { scopes: ["keys:read"] });
    const other = await createTenantWithKey(world, ["runs:read"]);
    const known = await createKey(world, { scopes: ["runs:read"] });
    const unknown = `${known.secret.slice(0, -4)}${known.secret.endsWith("AAAA") ? "BBBB" : "AAAA"}`;
    for (const secret of ["not a key", unknown, other.key.secret, world.rootKey, "sk_live_"]) {
      const answer = await whoami(reader.secret, { key: secret });
      expectError(answer, 404, "NOT_FOUND");
      expect(answer.text).not.toContain(secret);
    }
    // The root key sees every project's keys, and its own.
    expect((await whoami(world.rootKey, { key: other.key.secret })).body.id).toBe(other.key.id);
    expect((await whoami(world.rootKey, { key: world.rootKey })).body.root).toBe(true);
  });

  test("a secret retired by rotation, or of a revoked key, still names its key (leak triage)", async () => {
    const key = await createKey(world, { scopes: ["runs:read"] });
    const rotated = await world.call("POST", `/v1/keys/${key.id}/rotate`, { key: world.rootKey, body: {} });
    expect(rotated.status).toBe(200);
    expect((await whoami(world.rootKey, { key: key.secret })).body.id).toBe(key.id);
    expect((await whoami(world.rootKey, { key: rotated.body.secret })).body.id).toBe(key.id);
    await world.call("DELETE", `/v1/keys/${key.id}`, { key: world.rootKey });
    const revoked = await whoami(world.rootKey, { key: rotated.body.secret });
    expect(revoked.body.id).toBe(key.id);
    expect(revoked.body.revoked_at).not.toBeNull();
  });

  test("needs keys:read; a bad body is a 400 that never repeats it; GET is 405", async () => {
    const key = await createKey(world, { scopes: ["runs:read"] });
    expectError(await whoami(key.secret, { key: key.secret }), 403, "SCOPE_NOT_GRANTED");
    for (const body of [{}, { key: "" }, { key: 42 }, { key: key.secret, extra: true }, { key: "x".repeat(4097) }]) {
      const answer = await whoami(world.rootKey, body);
      expect({ body: Object.keys(body), status: answer.status }).toEqual({ body: Object.keys(body), status: 400 });
      expect(answer.text).not.toContain(key.secret);
    }
    const get = await world.call("GET", "/v1/keys/whoami", { key: world.rootKey });
    expect([get.status, get.headers.get("allow")]).toEqual([405, "POST"]);
  });
});
