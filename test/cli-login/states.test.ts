/** Every state transition of a CLI login, on a fixed clock. States only move forward. */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { expireLapsedCliLogins } from "../../src/domain/cli-login/expiry.ts";
import { createApprover, expectError, startCliLogin } from "../support/keys.ts";
import { createWorld, type World } from "../support/world.ts";

describe("CLI login states", () => {
  let world: World;
  let approver: Awaited<ReturnType<typeof createApprover>>;
  beforeEach(async () => {
    world = await createWorld();
    await world.call("PATCH", `/v1/projects/${world.defaultProjectId}`, {
      key: world.rootKey,
      body: { cli_default_scopes: ["runs:read"] },
    });
    approver = await createApprover(world);
  });
  afterEach(() => world.close());

  const approve = (userCode: string) =>
    world.call("POST", `/v1/api/auth/codes/${userCode}/approve`, { key: approver.secret, body: { user_id: "u" } });
  const deny = (userCode: string) =>
    world.call("POST", `/v1/api/auth/codes/${userCode}/deny`, { key: approver.secret });
  const approveById = (sessionId: string) =>
    world.call("POST", `/v1/api/auth/sessions/${sessionId}/approve`, { key: approver.secret, body: { user_id: "u" } });
  const denyById = (sessionId: string) =>
    world.call("POST", `/v1/api/auth/sessions/${sessionId}/deny`, { key: approver.secret });
  const poll = (sessionId: string) => world.call("GET", `/v1/api/auth/sessions/${sessionId}`);
  const auditActions = async () =>
    (await world.call("GET", "/v1/audit?limit=100", { key: world.rootKey })).body.data
      .map((event: { action: string }) => event.action)
      .filter((action: string) => action.startsWith("cli_session."))
      .reverse();

  test("a second approval, approve after deny and deny after approve are 409", async () => {
    const first = await startCliLogin(world);
    expect((await approveById(first.sessionId)).status).toBe(200);
    expectError(await approveById(first.sessionId), 409, "CONFLICT");
    expectError(await denyById(first.sessionId), 409, "CONFLICT");
    const second = await startCliLogin(world);
    expect((await denyById(second.sessionId)).status).toBe(200);
    expectError(await approveById(second.sessionId), 409, "CONFLICT");
    expectError(await denyById(second.sessionId), 409, "CONFLICT");
    // By code, a session that is no longer pending cannot even be found: the code is free again.
    expectError(await approve(first.userCode), 404, "NOT_FOUND");
  });

  test("a pending session expires after the project's ten minutes", async () => {
    const { sessionId, userCode } = await startCliLogin(world);
    world.clock.advanceMilliseconds(10 * 60 * 1000 - 1);
    expect((await poll(sessionId)).body.status).toBe("pending");
    world.clock.advanceMilliseconds(1);
    expectError(await approveById(sessionId), 409, "CONFLICT");
    world.clock.advanceSeconds(5);
    expect((await poll(sessionId)).body).toEqual({ status: "expired" });
    expectError(await approve(userCode), 404, "NOT_FOUND");
    expect(await auditActions()).toEqual(["cli_session.created", "cli_session.expired"]);
  });

  test("an unacknowledged key is handed over for 60 s after the first poll, then wiped; the login ends", async () => {
    const { sessionId } = await startCliLogin(world);
    await approveById(sessionId);
    const first = await poll(sessionId);
    expect(first.body.status).toBe("completed");
    world.clock.advanceSeconds(30);
    const again = await poll(sessionId);
    expect(again.body).toEqual(first.body);
    world.clock.advanceSeconds(30);
    expect((await poll(sessionId)).body).toEqual({ status: "expired" });
    const stored = (await world.query("SELECT status, sealed_key FROM cli_sessions"))[0];
    expect(stored).toEqual({ status: "expired", sealed_key: null });
    expect((await world.call("DELETE", `/v1/api/auth/sessions/${sessionId}`)).body).toEqual({ success: true });
  });

  test("the sweep expires lapsed sessions and wipes keys nobody collected, without any poll", async () => {
    const waiting = await startCliLogin(world);
    const collectedOnce = await startCliLogin(world);
    await approveById(collectedOnce.sessionId);
    await poll(collectedOnce.sessionId);
    world.clock.advanceSeconds(60);
    expect(await expireLapsedCliLogins(world.deps, world.clock.nowMilliseconds())).toBe(1);
    world.clock.advanceSeconds(600);
    expect(await expireLapsedCliLogins(world.deps, world.clock.nowMilliseconds())).toBe(1);
    const rows = await world.query("SELECT status, sealed_key FROM cli_sessions ORDER BY created_at_ms");
    expect(rows).toEqual([
      { status: "expired", sealed_key: null },
      { status: "expired", sealed_key: null },
    ]);
    expect((await poll(waiting.sessionId)).body).toEqual({ status: "expired" });
  });

  test("every change is audited: create, approve, deliver, deny", async () => {
    const one = await startCliLogin(world);
    await approve(one.userCode);
    await poll(one.sessionId);
    await world.call("DELETE", `/v1/api/auth/sessions/${one.sessionId}`);
    const two = await startCliLogin(world);
    await deny(two.userCode);
    expect(await auditActions()).toEqual([
      "cli_session.created",
      "cli_session.approved",
      "cli_session.delivered",
      "cli_session.created",
      "cli_session.denied",
    ]);
    const audit = await world.call("GET", "/v1/audit?action=cli_session.approved", { key: world.rootKey });
    expect(audit.text).not.toContain(one.sessionId);
  });

  test("the session id and the minted key never reach the database in plaintext", async () => {
    const { sessionId } = await startCliLogin(world);
    await approveById(sessionId);
    const { apiKey } = (await poll(sessionId)).body;
    const dump = JSON.stringify(await world.query("SELECT * FROM cli_sessions"));
    expect(dump).not.toContain(sessionId);
    expect(dump).not.toContain(apiKey);
    expect(dump).not.toContain(apiKey.slice(8, 40));
  });
});
