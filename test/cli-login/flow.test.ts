import { expect, test } from "bun:test";
import { createApprover, createKey, expectError, mintSession, startCliLogin } from "../support/keys.ts";
import { forEachTransport, useWorld } from "../support/transports.ts";

forEachTransport("CLI login", (transport) => {
  const world = useWorld({ transport });

  const poll = (sessionId: string, headers: Record<string, string> = {}) =>
    world.call("GET", `/v1/api/auth/sessions/${sessionId}`, { headers });

  test("start → pending → approved by the host app → the CLI collects a working key → acknowledges", async () => {
    const started = await world.call("POST", "/v1/api/auth/sessions", {
      body: { deviceName: "dev laptop", scopes: ["runs:read"] },
      headers: { "user-agent": "acme-cli/2.1" },
    });
    expect(started.status).toBe(201);
    expect(started.body).toEqual({
      sessionId: expect.stringMatching(/^cls_[0-9A-Za-z]{33}$/),
      verificationUrl: `http://localhost:8787/device?code=${started.body.userCode}`,
      expiresAt: "2026-01-01T00:10:00.000Z",
      userCode: expect.stringMatching(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/),
      interval: 5,
    });
    const { sessionId, userCode } = started.body;
    const pending = await poll(sessionId);
    expect(pending.body).toEqual({ status: "pending", deviceName: "dev laptop" });
    expect(pending.headers.get("cache-control")).toBe("no-store");

    const approver = await createApprover(world);
    const approved = await world.call("POST", `/v1/api/auth/codes/${userCode}/approve`, {
      key: approver.secret,
      body: { user_id: "user_7" },
    });
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({
      object: "cli_session",
      status: "approved",
      owner: "user_7",
      scopes: ["runs:read"],
      expires_at: "2026-04-01T00:00:00.000Z",
      callback_url: null,
    });

    world.clock.advanceSeconds(5);
    const completed = await poll(sessionId);
    expect(completed.body).toEqual({ status: "completed", apiKey: expect.stringMatching(/^sk_live_/) });
    const apiKey = completed.body.apiKey;
    const verified = await world.call("POST", "/v1/keys/verify", { body: { key: apiKey } });
    expect(verified.body).toMatchObject({
      valid: true,
      key_id: approved.body.key_id,
      owner: "user_7",
      scopes: ["runs:read"],
    });
    const key = await world.call("GET", `/v1/keys/${approved.body.key_id}`, { key: world.rootKey });
    expect(key.body.name).toBe("CLI: dev laptop");

    expect((await world.call("DELETE", `/v1/api/auth/sessions/${sessionId}`)).body).toEqual({ success: true });
    world.clock.advanceSeconds(5);
    expect((await poll(sessionId)).body).toEqual({ status: "expired" });
    const stored = (await world.query("SELECT status, sealed_key FROM cli_sessions"))[0];
    expect(stored).toEqual({ status: "delivered", sealed_key: null });
  });

  test("a browser approves with an end-user session token: the key belongs to the token's user", async () => {
    const { sessionId } = await startCliLogin(world, { scopes: ["runs:read"] });
    const approver = await createApprover(world);
    const token = await mintSession(world, approver.secret, {
      user_id: "user_42",
      scopes: ["cli:approve", "runs:read"],
    });
    const approved = await world.call("POST", `/v1/api/auth/sessions/${sessionId}/approve`, {
      headers: { "x-session-token": token },
    });
    expect(approved.status).toBe(200);
    expect(approved.body.owner).toBe("user_42");
  });

  test("denied: the CLI's next poll is 404, in the CLI envelope", async () => {
    const { sessionId, userCode } = await startCliLogin(world);
    const approver = await createApprover(world);
    const denied = await world.call("POST", `/v1/api/auth/codes/${userCode}/deny`, { key: approver.secret });
    expect(denied.body).toEqual({ object: "cli_session", status: "denied", callback_url: null });
    const answer = await poll(sessionId);
    expect(answer.status).toBe(404);
    expect(answer.body).toEqual({ success: false, msg: "No such login session.", code: "NOT_FOUND" });
  });

  test("the CLI can cancel its own pending session", async () => {
    const { sessionId, userCode } = await startCliLogin(world);
    expect((await world.call("DELETE", `/v1/api/auth/sessions/${sessionId}`)).body).toEqual({ success: true });
    expect((await poll(sessionId)).status).toBe(404);
    const approver = await createApprover(world);
    expectError(
      await world.call("POST", `/v1/api/auth/codes/${userCode}/approve`, {
        key: approver.secret,
        body: { user_id: "u" },
      }),
      404,
      "NOT_FOUND",
    );
  });

  test("the verification URL points at the project's own page when it has one", async () => {
    await world.call("PATCH", `/v1/projects/${world.defaultProjectId}`, {
      key: world.rootKey,
      body: { verification_url: "https://app.example.com/cli/approve?ref=cli" },
    });
    const { verificationUrl, userCode } = await startCliLogin(world);
    expect(verificationUrl).toBe(`https://app.example.com/cli/approve?ref=cli&code=${userCode}`);
  });

  test("the session names its project with X-Project-Id", async () => {
    const tenant = await world.call("POST", "/v1/tenants", { key: world.rootKey, body: { name: "t" } });
    const project = await world.call("POST", "/v1/projects", {
      key: world.rootKey,
      body: { tenant_id: tenant.body.id, name: "p", cli_default_scopes: ["deploy:write"] },
    });
    const { userCode } = await startCliLogin(world, {}, { "x-project-id": project.body.id });
    const homeApprover = await createApprover(world);
    expectError(
      await world.call("POST", `/v1/api/auth/codes/${userCode}/approve`, {
        key: homeApprover.secret,
        body: { user_id: "u" },
      }),
      404,
      "NOT_FOUND",
    );
    const approver = await createKey(world, { scopes: ["cli:approve", "deploy:write"], project_id: project.body.id });
    const approved = await world.call("POST", `/v1/api/auth/codes/${userCode}/approve`, {
      key: approver.secret,
      body: { user_id: "u" },
    });
    expect(approved.body.scopes).toEqual(["deploy:write"]);
  });
});
