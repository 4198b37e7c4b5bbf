/**
 * What a token or a key may hand on: latchkey's own scopes only by name, a key made through a token bound to the
 * token's parent key (never outliving it), and a bucket no larger than its creator's.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { decodeJwt } from "jose";
import {
  createApprover,
  createKey,
  createProject,
  createTenant,
  expectError,
  mintBrowserSession,
  mintSession,
  startCliLogin,
} from "../support/keys.ts";
import { forEachTransport, useWorld } from "../support/transports.ts";
import { createWorld, type World } from "../support/world.ts";

const APP = "https://app.example.com";

forEachTransport("what a token may hand on", (transport) => {
  const world = useWorld({ transport });

  test("regression: a token carries keys:read, keys:write and cli:approve only when asked for by name", async () => {
    const projectId = await createProject(world, await createTenant(world), { allowed_origins: [APP] });
    const scopes = ["keys:read", "keys:write", "cli:approve", "runs:read", "runs:write"];
    const key = await createKey(world, { scopes, project_id: projectId });
    const browser = await mintBrowserSession(world, key.secret, APP);
    expect(decodeJwt(browser).scp).toEqual(["runs:read", "runs:write"]);
    const endUser = await mintSession(world, key.secret);
    expect(decodeJwt(endUser).scp).toEqual(["runs:read"]);
    // By default, a page's token cannot turn itself into a key, list keys or approve a CLI login.
    const asPage = { origin: APP, "x-session-token": browser };
    const created = await world.call("POST", "/v1/keys", {
      headers: asPage,
      body: { name: "k", scopes: ["runs:read"] },
    });
    expectError(created, 403, "SCOPE_NOT_GRANTED");
    expectError(await world.call("GET", "/v1/keys", { headers: asPage }), 403, "SCOPE_NOT_GRANTED");
    const login = await startCliLogin(world, {}, { "x-project-id": projectId });
    const approved = await world.call("POST", `/v1/api/auth/codes/${login.userCode}/approve`, {
      headers: { "x-session-token": endUser },
      body: { scopes: ["runs:read"] },
    });
    expectError(approved, 403, "SCOPE_NOT_GRANTED");
    // Named, they are carried like any other scope.
    const named = await mintBrowserSession(world, key.secret, APP, { scopes: ["keys:write", "runs:read"] });
    expect(decodeJwt(named).scp).toEqual(["keys:write", "runs:read"]);
    const allowed = await world.call("POST", "/v1/keys", {
      headers: { origin: APP, "x-session-token": named },
      body: { name: "k", scopes: ["runs:read"] },
    });
    expect(allowed.status).toBe(200);
  });

  test("regression: a key created through a token never outlives the token's parent key", async () => {
    const parent = await createKey(world, {
      scopes: ["keys:write", "runs:read"],
      expires_at: "2026-03-01T00:00:00Z",
    });
    const token = await mintSession(world, parent.secret, { user_id: "alice", scopes: ["keys:write", "runs:read"] });
    const create = async (body: Record<string, unknown>, headers: Record<string, string> = {}) => {
      const answer = await world.call("POST", "/v1/keys", {
        headers: { "x-session-token": token, ...headers },
        body: { name: "made by a token", scopes: ["runs:read"], ...body },
      });
      expect(answer.status).toBe(200);
      return answer.body;
    };
    const unbounded = await create({});
    const later = await create({ expires_at: "2027-01-01T00:00:00Z" });
    const sooner = await create({ expires_at: "2026-02-01T00:00:00Z" });
    expect([unbounded.expires_at, later.expires_at, sooner.expires_at]).toEqual([
      "2026-03-01T00:00:00.000Z",
      "2026-03-01T00:00:00.000Z",
      "2026-02-01T00:00:00.000Z",
    ]);
    expect([unbounded.parent_key_id, later.parent_key_id, sooner.parent_key_id]).toEqual([
      parent.id,
      parent.id,
      parent.id,
    ]);
    // A key its creator made with the key itself is the key's own decision: not bound to it.
    const madeByKey = await createKey(world, { scopes: ["runs:read"], by: parent.secret });
    expect(madeByKey.body).toMatchObject({ parent_key_id: null, expires_at: null });

    const verify = async (secret: string) =>
      (await world.call("POST", "/v1/keys/verify", { body: { key: secret } })).body.code;
    expect(await verify(unbounded.secret)).toBe("VALID");
    await world.call("DELETE", `/v1/keys/${parent.id}`, { key: world.rootKey });
    expect([await verify(unbounded.secret), await verify(later.secret), await verify(sooner.secret)]).toEqual([
      "API_KEY_REVOKED",
      "API_KEY_REVOKED",
      "API_KEY_REVOKED",
    ]);
    expect(await verify(madeByKey.secret)).toBe("VALID");
    const read = await world.call("GET", `/v1/keys/${later.id}`, { key: world.rootKey });
    expect(read.body.revoked_at).toBe("2026-01-01T00:00:00.000Z");

    // Audited as such: each creation names the parent, each revocation says why.
    const audit = await world.call("GET", "/v1/audit?limit=100", { key: world.rootKey });
    const eventsOf = (action: string, id: string) =>
      audit.body.data.filter((event: any) => event.action === action && event.target.id === id);
    expect(eventsOf("key.created", later.id)[0]).toMatchObject({
      actor: { type: "session", id: `${parent.id}/alice` },
      details: { parent_key_id: parent.id, expires_at_ms: Date.parse("2026-03-01T00:00:00Z") },
    });
    expect(eventsOf("key.revoked", later.id)[0]).toMatchObject({
      actor: { type: "root_key" },
      details: { reason: "parent_revoked", parent_key_id: parent.id },
    });
    expect(eventsOf("key.revoked", madeByKey.id)).toEqual([]);
  });

  test("regression: keys made through tokens of such a key are revoked with the first parent too", async () => {
    const root = await createKey(world, { scopes: ["keys:write", "runs:read"] });
    let secret = root.secret;
    const generations: string[] = [];
    for (let generation = 0; generation < 3; generation++) {
      const token = await mintSession(world, secret, { scopes: ["keys:write", "runs:read"] });
      const made = await world.call("POST", "/v1/keys", {
        headers: { "x-session-token": token },
        body: { name: `generation ${generation}`, scopes: ["keys:write", "runs:read"] },
      });
      generations.push(made.body.secret);
      secret = made.body.secret;
    }
    await world.call("DELETE", `/v1/keys/${root.id}`, { key: world.rootKey });
    for (const made of generations) {
      const answer = await world.call("POST", "/v1/keys/verify", { body: { key: made } });
      expect(answer.body.code).toBe("API_KEY_REVOKED");
    }
  });

  test("regression: a CLI key approved through a browser's token is bound to the token's parent key", async () => {
    const approver = await createApprover(world);
    const token = await mintSession(world, approver.secret, { user_id: "alice", scopes: ["cli:approve", "runs:read"] });
    const login = await startCliLogin(world, { scopes: ["runs:read"] });
    const approved = await world.call("POST", `/v1/api/auth/codes/${login.userCode}/approve`, {
      headers: { "x-session-token": token },
      body: { expires_at: "2030-01-01T00:00:00Z" },
    });
    expect(approved.status).toBe(200);
    const poll = await world.call("GET", `/v1/api/auth/sessions/${login.sessionId}`);
    const cliKey: string = poll.body.apiKey;
    const check = async () => (await world.call("POST", "/v1/keys/verify", { body: { key: cliKey } })).body;
    expect((await check()).code).toBe("VALID");
    await world.call("DELETE", `/v1/keys/${approver.id}`, { key: world.rootKey });
    expect((await check()).code).toBe("API_KEY_REVOKED");
  });

  test("regression: a token whose parent key was revoked meanwhile creates nothing", async () => {
    const parent = await createKey(world, { scopes: ["keys:write", "runs:read"] });
    const token = await mintSession(world, parent.secret, { scopes: ["keys:write", "runs:read"] });
    // The creating transaction reads the parent again: refused as the token would now be, whatever a cache held.
    await world.query("UPDATE api_keys SET revoked_at_ms = ? WHERE id = ?", [world.clock.nowMilliseconds(), parent.id]);
    const answer = await world.call("POST", "/v1/keys", {
      headers: { "x-session-token": token },
      body: { name: "k", scopes: ["runs:read"] },
    });
    expect(answer.status).toBe(401);
    const listed = await world.call("GET", "/v1/keys?limit=100", { key: world.rootKey });
    expect(listed.body.data.some((key: { name: string }) => key.name === "k")).toBe(false);
  });
});

forEachTransport("what a key may hand on: its bucket", (transport) => {
  const world = useWorld({ transport });

  /** A key with keys:write, cli:approve and a bucket of 20 requests a minute (the project's default is 1,000). */
  async function smallCreator() {
    const creator = await createKey(world, { scopes: ["keys:write", "cli:approve", "runs:read"] });
    const patched = await world.call("PATCH", `/v1/keys/${creator.id}`, {
      key: world.rootKey,
      body: { ratelimit: { limit: 20, window_seconds: 60 } },
    });
    expect(patched.status).toBe(200);
    await world.deps.changeLog.catchUp();
    return creator;
  }

  const create = (credential: Record<string, string>, ratelimit?: unknown) =>
    world.call("POST", "/v1/keys", {
      headers: credential,
      body: { name: "child", scopes: ["runs:read"], ...(ratelimit === undefined ? {} : { ratelimit }) },
    });

  test("regression: a key allowed 20 a minute cannot create one allowed a million a second", async () => {
    const creator = await smallCreator();
    const asCreator = { authorization: `Bearer ${creator.secret}` };
    const burst = await create(asCreator, { limit: 1_000_000, window_seconds: 1 });
    expectError(burst, 403, "LIMIT_NOT_GRANTED");
    expect(burst.body.error.details).toEqual([
      { path: "ratelimit.limit", message: "must be at most 20 (the caller's own bucket, 20 per 60 seconds)" },
    ]);
    const rate = await create(asCreator, { limit: 20, window_seconds: 1 });
    expectError(rate, 403, "LIMIT_NOT_GRANTED");
    expect(rate.body.error.details).toEqual([
      {
        path: "ratelimit.window_seconds",
        message: "must be at least 60 for this limit (the caller's own bucket, 20 per 60 seconds)",
      },
    ]);
    const token = await mintSession(world, creator.secret, { scopes: ["keys:write", "runs:read"] });
    expectError(
      await create({ "x-session-token": token }, { limit: 21, window_seconds: 60 }),
      403,
      "LIMIT_NOT_GRANTED",
    );

    // Within it: a smaller burst at the same rate, or the same burst refilled more slowly.
    for (const within of [
      { limit: 10, window_seconds: 30 },
      { limit: 20, window_seconds: 3600 },
    ]) {
      const answer = await create(asCreator, within);
      expect({ within, status: answer.status, ratelimit: answer.body.ratelimit }).toEqual({
        within,
        status: 200,
        ratelimit: within,
      });
    }
    // Asked for none, the child does not get the project's larger default: it gets its creator's bucket.
    const unnamed = await create(asCreator);
    expect(unnamed.body.ratelimit).toEqual({ limit: 20, window_seconds: 60 });
    let admitted = 0;
    for (let request = 0; request < 200; request++) {
      const answer = await world.call("GET", "/v1/authz", { key: unnamed.body.secret });
      if (answer.status === 200) admitted++;
    }
    expect(admitted).toBe(20);
    // The root key is exempt.
    const fromRoot = await create(
      { authorization: `Bearer ${world.rootKey}` },
      { limit: 1_000_000, window_seconds: 1 },
    );
    expect(fromRoot.status).toBe(200);
  });

  test("regression: a key cannot raise a bucket, its own included, beyond its own", async () => {
    const creator = await smallCreator();
    const child = await create({ authorization: `Bearer ${creator.secret}` }, { limit: 5, window_seconds: 60 });
    const patch = (id: string, ratelimit: unknown) =>
      world.call("PATCH", `/v1/keys/${id}`, { key: creator.secret, body: { ratelimit } });
    expectError(await patch(creator.id, { limit: 1_000_000, window_seconds: 1 }), 403, "LIMIT_NOT_GRANTED");
    expectError(await patch(child.body.id, { limit: 1_000, window_seconds: 60 }), 403, "LIMIT_NOT_GRANTED");
    const backToDefault = await patch(child.body.id, null);
    expectError(backToDefault, 403, "LIMIT_NOT_GRANTED");
    expect(backToDefault.body.error.details[0].path).toBe("ratelimit");
    expect((await patch(child.body.id, { limit: 20, window_seconds: 60 })).status).toBe(200);
    const read = await world.call("GET", `/v1/keys/${creator.id}`, { key: world.rootKey });
    expect(read.body.ratelimit).toEqual({ limit: 20, window_seconds: 60 });
  });

  test("regression: a CLI key gets no larger a bucket than its approver's", async () => {
    const approver = await smallCreator();
    const login = await startCliLogin(world, { scopes: ["runs:read"] });
    const approved = await world.call("POST", `/v1/api/auth/sessions/${login.sessionId}/approve`, {
      key: approver.secret,
      body: { user_id: "alice" },
    });
    expect(approved.status).toBe(200);
    const keys = await world.call("GET", "/v1/keys?owner=alice", { key: world.rootKey });
    expect(keys.body.data[0].ratelimit).toEqual({ limit: 20, window_seconds: 60 });
  });
});

describe("keys made through tokens, across processes", () => {
  let first: World;
  let second: World;
  afterEach(async () => {
    await second.close();
    await first.close();
  });

  test("regression: revoking the parent on one node revokes its token-made keys on every node", async () => {
    first = await createWorld({ shareable: true });
    second = await createWorld({ joining: first });
    const parent = await createKey(first, { scopes: ["keys:write", "runs:read"] });
    const token = await mintSession(first, parent.secret, { scopes: ["keys:write", "runs:read"] });
    const child = await first.call("POST", "/v1/keys", {
      headers: { "x-session-token": token },
      body: { name: "child", scopes: ["runs:read"] },
    });
    const verifyOnSecond = async () =>
      (await second.call("POST", "/v1/keys/verify", { body: { key: child.body.secret } })).body.code;
    expect(await verifyOnSecond()).toBe("VALID"); // now held in the second node's memory
    expect(await verifyOnSecond()).toBe("VALID");
    await first.call("DELETE", `/v1/keys/${parent.id}`, { key: first.rootKey });
    expect(await second.deps.changeLog.catchUp()).toBe(true);
    expect(await verifyOnSecond()).toBe("API_KEY_REVOKED");
  });
});
