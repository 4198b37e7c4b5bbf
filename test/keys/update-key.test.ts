/**
 * PATCH /v1/keys/:id changes scopes, owner and expiry as well as name, bucket, enabled and meta: only the fields sent,
 * never beyond what the caller may grant, applied on the next request, audited with the values before and after.
 */
import { expect, test } from "bun:test";
import { createKey, expectError, mintSession } from "../support/keys.ts";
import { forEachTransport, useWorld } from "../support/transports.ts";
import type { World } from "../support/world.ts";

async function patch(world: World, keyId: string, body: unknown, by = world.rootKey) {
  const answer = await world.call("PATCH", `/v1/keys/${keyId}`, { key: by, body });
  await world.deps.changeLog.catchUp();
  return answer;
}

forEachTransport("changing a key", (transport) => {
  const world = useWorld({ transport });
  const authz = (secret: string, scopes: string) => world.call("GET", `/v1/authz?scopes=${scopes}`, { key: secret });

  test("scopes: narrowing refuses the dropped scope on the next request, for the key and its tokens", async () => {
    const key = await createKey(world, { scopes: ["runs:read", "runs:write"] });
    const token = await mintSession(world, key.secret, { scopes: ["runs:read", "runs:write"] });
    const byToken = () => world.call("GET", "/v1/authz?scopes=runs:write", { headers: { "x-session-token": token } });
    expect([(await authz(key.secret, "runs:write")).status, (await byToken()).status]).toEqual([200, 200]);
    const narrowed = await patch(world, key.id, { scopes: ["runs:read", "runs:read"] });
    expect(narrowed.body.scopes).toEqual(["runs:read"]);
    expect([(await authz(key.secret, "runs:write")).status, (await byToken()).status]).toEqual([403, 403]);
    expect((await authz(key.secret, "runs:read")).status).toBe(200);
    const widened = await patch(world, key.id, { scopes: ["runs:read", "runs:write", "billing:read"] });
    expect(widened.body.scopes).toEqual(["runs:read", "runs:write", "billing:read"]);
    expect((await authz(key.secret, "billing:read")).status).toBe(200);
  });

  test("scopes: a key grants only scopes it holds (403 naming them); an empty or malformed list is a 400", async () => {
    const manager = await createKey(world, { scopes: ["keys:write", "runs:read", "runs:write"] });
    const key = await createKey(world, { scopes: ["runs:read"], by: manager.secret });
    const beyond = await patch(world, key.id, { scopes: ["runs:read", "billing:admin"] }, manager.secret);
    expectError(beyond, 403, "SCOPE_NOT_GRANTED");
    expect(beyond.body.error.details).toEqual([{ path: "scopes[1]", message: "billing:admin" }]);
    expect((await patch(world, key.id, { scopes: ["runs:write"] }, manager.secret)).body.scopes).toEqual([
      "runs:write",
    ]);
    for (const scopes of [[], ["Runs:Read"], ["runs:*"], "runs:read", null]) {
      const answer = await patch(world, key.id, { scopes }, manager.secret);
      expect({ scopes, status: answer.status }).toEqual({ scopes, status: 400 });
    }
    expect((await world.call("GET", `/v1/keys/${key.id}`, { key: world.rootKey })).body.scopes).toEqual(["runs:write"]);
  });

  test("owner: set, shown on verify, and removed with null", async () => {
    const key = await createKey(world, { scopes: ["runs:read"], owner: "user_1" });
    expect((await patch(world, key.id, { owner: "user_2" })).body.owner).toBe("user_2");
    expect((await world.call("POST", "/v1/keys/verify", { body: { key: key.secret } })).body.owner).toBe("user_2");
    expect((await patch(world, key.id, { owner: null })).body.owner).toBeNull();
    expect((await world.call("POST", "/v1/keys/verify", { body: { key: key.secret } })).body.owner).toBeNull();
    expect((await patch(world, key.id, { owner: "x".repeat(257) })).status).toBe(400);
  });

  test("expires_at: a future moment ends the key then; the past is a 400; null removes the expiry", async () => {
    const key = await createKey(world, { scopes: ["runs:read"] });
    const now = world.clock.nowMilliseconds();
    const inAnHour = new Date(now + 3_600_000).toISOString();
    expect((await patch(world, key.id, { expires_at: inAnHour })).body.expires_at).toBe(inAnHour);
    const past = await patch(world, key.id, { expires_at: new Date(now - 1000).toISOString() });
    expectError(past, 400, "VALIDATION_FAILED");
    expect(past.body.error.details).toEqual([{ path: "expires_at", message: "must be in the future" }]);
    expect((await patch(world, key.id, { expires_at: new Date(now).toISOString() })).status).toBe(400);
    expect((await patch(world, key.id, { expires_at: "tomorrow" })).status).toBe(400);
    world.clock.advanceSeconds(3600);
    expect((await world.call("POST", "/v1/keys/verify", { body: { key: key.secret } })).body.code).toBe(
      "API_KEY_EXPIRED",
    );
    const later = await createKey(world, {
      scopes: ["runs:read"],
      expires_at: new Date(world.clock.nowMilliseconds() + 60_000).toISOString(),
    });
    expect((await patch(world, later.id, { expires_at: null })).body.expires_at).toBeNull();
    world.clock.advanceSeconds(120);
    expect((await world.call("POST", "/v1/keys/verify", { body: { key: later.secret } })).body.code).toBe("VALID");
  });

  test("expires_at: a key made through a token never outlives the token's parent, by PATCH either", async () => {
    const parentEndsAt = new Date(world.clock.nowMilliseconds() + 3_600_000).toISOString();
    const parent = await createKey(world, { scopes: ["keys:write", "runs:read"], expires_at: parentEndsAt });
    const token = await mintSession(world, parent.secret, { scopes: ["keys:write", "runs:read"] });
    const made = await world.call("POST", "/v1/keys", {
      headers: { "x-session-token": token },
      body: { name: "made by a token", scopes: ["runs:read"] },
    });
    expect(made.body.expires_at).toBe(parentEndsAt);
    const farFuture = new Date(world.clock.nowMilliseconds() + 86_400_000 * 365).toISOString();
    for (const expires_at of [farFuture, null]) {
      const answer = await patch(world, made.body.id, { expires_at });
      expect({ expires_at, ends: answer.body.expires_at }).toEqual({ expires_at, ends: parentEndsAt });
    }
    const sooner = new Date(world.clock.nowMilliseconds() + 60_000).toISOString();
    expect((await patch(world, made.body.id, { expires_at: sooner })).body.expires_at).toBe(sooner);
  });

  test("the root key's scopes, expiry and bucket are fixed (409 naming each), and it is never disabled", async () => {
    const keys = await world.call("GET", "/v1/keys", { key: world.rootKey });
    const rootId = keys.body.data.find((entry: { root: boolean }) => entry.root).id;
    const answer = await patch(world, rootId, {
      scopes: ["runs:read"],
      expires_at: new Date(world.clock.nowMilliseconds() + 60_000).toISOString(),
      enabled: false,
    });
    expectError(answer, 409, "CONFLICT");
    expect(answer.body.error.details.map((detail: { path: string }) => detail.path)).toEqual([
      "scopes",
      "expires_at",
      "enabled",
    ]);
    expect((await patch(world, rootId, { name: "operator" })).body.name).toBe("operator");
    expect((await world.call("GET", "/v1/keys", { key: world.rootKey })).status).toBe(200);
  });

  test("only the fields sent change, and the audit trail has each changed field before and after", async () => {
    const key = await createKey(world, { scopes: ["runs:read"], owner: "user_1" });
    const changed = await patch(world, key.id, { scopes: ["runs:write"] });
    expect({ name: changed.body.name, owner: changed.body.owner, enabled: changed.body.enabled }).toEqual({
      name: "test key",
      owner: "user_1",
      enabled: true,
    });
    const audit = await world.call("GET", "/v1/audit?action=key.updated", { key: world.rootKey });
    const event = audit.body.data.find((entry: { target: { id: string } }) => entry.target.id === key.id);
    expect(event.details.before).toMatchObject({ scopes: ["runs:read"], owner: "user_1", expires_at_ms: null });
    expect(event.details.after).toMatchObject({ scopes: ["runs:write"], owner: "user_1", expires_at_ms: null });
  });
});
