/** Who may approve what, with which scopes; the user-code guessing limit; the details an approver sees. */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import {
  createApprover,
  createKey,
  createTenantWithKey,
  expectError,
  mintSession,
  startCliLogin,
} from "../support/keys.ts";
import { createWorld, type World } from "../support/world.ts";

describe("approving CLI logins", () => {
  let world: World;
  beforeEach(async () => {
    world = await createWorld();
  });
  afterEach(() => world.close());

  const approve = (userCode: string, key: string, body: Record<string, unknown> = { user_id: "u" }) =>
    world.call("POST", `/v1/api/auth/codes/${userCode}/approve`, { key, body });

  test("needs cli:approve and the cli_login module", async () => {
    const { userCode } = await startCliLogin(world, { scopes: ["runs:read"] });
    const plain = await createKey(world, { scopes: ["runs:read", "keys:write"] });
    const refused = await approve(userCode, plain.secret);
    expectError(refused, 403, "SCOPE_NOT_GRANTED");
    expect(refused.body.error.details).toEqual([{ path: "scopes", message: "cli:approve" }]);
    await world.call("PATCH", `/v1/tenants/${world.defaultTenantId}`, {
      key: world.rootKey,
      body: { modules: ["keys", "sessions"] },
    });
    const approver = await createApprover(world);
    expectError(await approve(userCode, approver.secret), 403, "MODULE_NOT_ENABLED");
  });

  test("the key's scopes are never wider than the approver's", async () => {
    const { userCode } = await startCliLogin(world, { scopes: ["runs:read", "billing:write"] });
    const approver = await createApprover(world, ["cli:approve", "runs:read"]);
    const wide = await approve(userCode, approver.secret);
    expectError(wide, 403, "SCOPE_NOT_GRANTED");
    expect(wide.body.error.details).toEqual([{ path: "scopes", message: "billing:write" }]);
    const narrowed = await approve(userCode, approver.secret, { user_id: "u", scopes: ["runs:read"] });
    expect(narrowed.body.scopes).toEqual(["runs:read"]);
  });

  test("with nothing asked and no project default there is nothing to grant (400)", async () => {
    const { userCode } = await startCliLogin(world);
    const approver = await createApprover(world);
    const answer = await approve(userCode, approver.secret);
    expectError(answer, 400, "VALIDATION_FAILED");
    expect(answer.body.error.details[0].path).toBe("scopes");
  });

  test("an API key approver names the user; a browser approves only for its own user", async () => {
    const { userCode } = await startCliLogin(world, { scopes: ["runs:read"] });
    const approver = await createApprover(world);
    const unnamed = await approve(userCode, approver.secret, {});
    expectError(unnamed, 400, "VALIDATION_FAILED");
    expect(unnamed.body.error.details[0].path).toBe("user_id");
    const token = await mintSession(world, approver.secret, { user_id: "alice", scopes: ["cli:approve", "runs:read"] });
    const impersonating = await world.call("POST", `/v1/api/auth/codes/${userCode}/approve`, {
      headers: { "x-session-token": token },
      body: { user_id: "bob" },
    });
    expectError(impersonating, 400, "VALIDATION_FAILED");
    const own = await world.call("POST", `/v1/api/auth/codes/${userCode}/approve`, {
      headers: { "x-session-token": token },
      body: {},
    });
    expect(own.body.owner).toBe("alice");
  });

  test("expiry: the project's 90 days by default, or expires_at; the past is refused", async () => {
    const { userCode } = await startCliLogin(world, { scopes: ["runs:read"] });
    const approver = await createApprover(world);
    expectError(
      await approve(userCode, approver.secret, { user_id: "u", expires_at: "2025-01-01T00:00:00Z" }),
      400,
      "VALIDATION_FAILED",
    );
    const answer = await approve(userCode, approver.secret, { user_id: "u", expires_at: "2026-02-01T00:00:00Z" });
    expect(answer.body.expires_at).toBe("2026-02-01T00:00:00.000Z");
  });

  test("regression: tokens minted from a CLI login's key end when that key does", async () => {
    const { userCode, sessionId } = await startCliLogin(world, { scopes: ["runs:read"] });
    const approver = await createApprover(world);
    await approve(userCode, approver.secret, { user_id: "u", expires_at: "2026-01-01T00:00:30Z" });
    const poll = await world.call("GET", `/v1/api/auth/sessions/${sessionId}`);
    const session = await world.call("POST", "/v1/sessions", { key: poll.body.apiKey, body: { user_id: "u" } });
    expect(session.body.expires_at).toBe("2026-01-01T00:00:30.000Z");
  });

  test("another project's approver cannot see or act on the session (404)", async () => {
    const { userCode, sessionId } = await startCliLogin(world, { scopes: ["runs:read"] });
    const other = await createTenantWithKey(world, ["cli:approve", "runs:read"]);
    expectError(await approve(userCode, other.key.secret), 404, "NOT_FOUND");
    expectError(
      await world.call("POST", `/v1/api/auth/sessions/${sessionId}/approve`, {
        key: other.key.secret,
        body: { user_id: "u" },
      }),
      404,
      "NOT_FOUND",
    );
    expectError(await world.call("GET", `/v1/api/auth/codes/${userCode}`, { key: other.key.secret }), 404, "NOT_FOUND");
  });

  test("five wrong user codes per approver per session lifetime, then 429 even for the right one", async () => {
    const { userCode } = await startCliLogin(world, { scopes: ["runs:read"] });
    const approver = await createApprover(world);
    for (const wrong of ["BBBB-BBBB", "CCCC-CCCC", "DDDD-DDDD", "not-a-code", "FFFF-FFFF"]) {
      expectError(await approve(wrong, approver.secret), 404, "NOT_FOUND");
    }
    expectError(await approve(userCode, approver.secret), 429, "RATE_LIMITED");
    const otherApprover = await createApprover(world);
    expect((await approve(userCode, otherApprover.secret)).status).toBe(200);
  });

  test("regression: a token's wrong codes count against its parent key (new users buy no guesses)", async () => {
    const { userCode } = await startCliLogin(world, { scopes: ["runs:read"] });
    const approver = await createApprover(world);
    for (let user = 1; user <= 5; user++) {
      const token = await mintSession(world, approver.secret, {
        user_id: `brute${user}`,
        scopes: ["cli:approve", "runs:read"],
      });
      const guess = await world.call("POST", "/v1/api/auth/codes/BBBB-BBBB/approve", {
        headers: { "x-session-token": token },
        body: {},
      });
      expectError(guess, 404, "NOT_FOUND");
    }
    const fresh = await mintSession(world, approver.secret, {
      user_id: "brute6",
      scopes: ["cli:approve", "runs:read"],
    });
    const right = await world.call("POST", `/v1/api/auth/codes/${userCode}/approve`, {
      headers: { "x-session-token": fresh },
      body: {},
    });
    expectError(right, 429, "RATE_LIMITED");
    expectError(await approve(userCode, approver.secret), 429, "RATE_LIMITED");
  });

  test("regression: many approving keys share one bound on wrong codes per project", async () => {
    const { userCode } = await startCliLogin(world, { scopes: ["runs:read"] });
    for (let guess = 0; guess < 50; guess++) {
      const approver = await createApprover(world);
      expectError(await approve("BBBB-BBBB", approver.secret), 404, "NOT_FOUND");
    }
    const honest = await createApprover(world);
    expectError(await approve(userCode, honest.secret), 429, "RATE_LIMITED");
    world.clock.advanceSeconds(600);
    expect((await approve(userCode, honest.secret)).status).toBe(409);
  });

  test("codes are read the way people type them", async () => {
    const { userCode } = await startCliLogin(world, { scopes: ["runs:read"] });
    const approver = await createApprover(world);
    const typed = ` ${userCode.replace("-", "").toLowerCase()} `;
    expect((await approve(encodeURIComponent(typed), approver.secret)).status).toBe(200);
  });

  test("the approver sees who asked, from where and for what", async () => {
    const { userCode } = await startCliLogin(
      world,
      { deviceName: "build box", scopes: ["runs:read"] },
      { "user-agent": "acme-cli/3" },
    );
    const approver = await createApprover(world);
    const details = await world.call("GET", `/v1/api/auth/codes/${userCode}`, { key: approver.secret });
    expect(details.body).toEqual({
      object: "cli_session",
      status: "pending",
      device_name: "build box",
      user_code: userCode,
      requester_ip: null,
      requester_user_agent: "acme-cli/3",
      created_at: "2026-01-01T00:00:00.000Z",
      expires_at: "2026-01-01T00:10:00.000Z",
      scopes: ["runs:read"],
      project: { id: world.defaultProjectId, name: "default" },
      callback_host: null,
    });
  });

  test("regression: the approver is told where the browser goes after approval, before approving", async () => {
    const { userCode } = await startCliLogin(world, {
      scopes: ["runs:read"],
      callbackUrl: "https://cli.attacker.example:8443/done?x=1",
    });
    const approver = await createApprover(world);
    const details = await world.call("GET", `/v1/api/auth/codes/${userCode}`, { key: approver.secret });
    expect(details.body.callback_host).toBe("cli.attacker.example:8443");
  });
});

describe("exactly one key per session", () => {
  const mintedKeys = async (world: World) =>
    (await world.query("SELECT CAST(count(*) AS INTEGER) AS n FROM api_keys WHERE name = 'CLI: laptop'"))[0]!.n;

  /** Fires approvals and denials at once; returns the winner's answer and checks every other one was refused. */
  async function race(worlds: World[], sessionId: string, userCode: string, approverSecrets: string[], deniers = 4) {
    const answers = await Promise.all([
      ...Array.from({ length: 24 }, (_, index) =>
        worlds[index % worlds.length]!.call("POST", `/v1/api/auth/sessions/${sessionId}/approve`, {
          key: approverSecrets[index % approverSecrets.length]!,
          body: { user_id: `u${index}` },
        }),
      ),
      ...Array.from({ length: deniers }, (_, index) =>
        worlds[index % worlds.length]!.call("POST", `/v1/api/auth/codes/${userCode}/deny`, {
          key: approverSecrets[index % approverSecrets.length]!,
        }),
      ),
    ]);
    const winners = answers.filter((answer) => answer.status === 200);
    expect(winners.length).toBe(1);
    expect(answers.every((answer) => [200, 404, 409].includes(answer.status))).toBe(true);
    return winners[0]!;
  }

  test("many concurrent approvers and deniers: one wins, one key at most, every poll sees the same key", async () => {
    const world = await createWorld();
    try {
      let approvals = 0;
      for (let trial = 0; trial < 8; trial++) {
        const { sessionId, userCode } = await startCliLogin(world, { scopes: ["runs:read"] });
        const approvers = await Promise.all(Array.from({ length: 4 }, () => createApprover(world)));
        // Every other trial without deniers, so approvals race only each other too.
        const deniers = trial % 2 === 0 ? 0 : 4;
        const winner = await race(
          [world],
          sessionId,
          userCode,
          approvers.map((approver) => approver.secret),
          deniers,
        );
        if (winner.body.status === "approved") approvals++;
        expect(await mintedKeys(world)).toBe(approvals);
        world.clock.advanceSeconds(5);
        const polls = await Promise.all(
          Array.from({ length: 8 }, () => world.call("GET", `/v1/api/auth/sessions/${sessionId}`)),
        );
        const keys = new Set(polls.filter((poll) => poll.body.status === "completed").map((poll) => poll.body.apiKey));
        expect(keys.size).toBe(winner.body.status === "approved" ? 1 : 0);
        expect(polls.filter((poll) => poll.status === 200).length).toBe(winner.body.status === "approved" ? 1 : 0);
      }
      expect(approvals).toBeGreaterThanOrEqual(4);
    } finally {
      await world.close();
    }
  });

  test("two processes sharing the database approving at once still mint one key", async () => {
    const first = await createWorld({ shareable: true });
    const second = await createWorld({ joining: first });
    try {
      for (let trial = 0; trial < 5; trial++) {
        const { sessionId, userCode } = await startCliLogin(first, { scopes: ["runs:read"] });
        const approver = await createApprover(first);
        await race([first, second], sessionId, userCode, [approver.secret]);
      }
      const statuses = await first.query(
        "SELECT status, CAST(count(*) AS INTEGER) AS n FROM cli_sessions GROUP BY status",
      );
      const approved = (statuses as { status: string; n: number }[]).find((row) => row.status === "approved")?.n ?? 0;
      expect(await mintedKeys(first)).toBe(approved);
    } finally {
      await second.close();
      await first.close();
    }
  });
});

describe("wrong user codes wherever they are tried", () => {
  const guess = (world: World, approver: string) =>
    world.call("POST", "/v1/api/auth/codes/BBBB-BBBB/approve", { key: approver, body: { user_id: "u" } });
  const statusesOf = (answers: { status: number }[]) => {
    const counted: Record<number, number> = {};
    for (const answer of answers) counted[answer.status] = (counted[answer.status] ?? 0) + 1;
    return counted;
  };

  test("regression: concurrent wrong codes with one key are five lookups, the rest refused", async () => {
    const world = await createWorld();
    try {
      await startCliLogin(world, { scopes: ["runs:read"] });
      const approver = await createApprover(world);
      const answers = await Promise.all(Array.from({ length: 40 }, () => guess(world, approver.secret)));
      expect(statusesOf(answers)).toEqual({ 404: 5, 429: 35 });
    } finally {
      await world.close();
    }
  });

  test("regression: two processes on one database file allow five wrong codes per key between them", async () => {
    // Buckets in each process's memory, as several processes on one SQLite file without Redis have.
    const first = await createWorld({ shareable: true, localBuckets: true });
    const second = await createWorld({ joining: first, localBuckets: true });
    try {
      const { userCode } = await startCliLogin(first, { scopes: ["runs:read"] });
      const approver = await createApprover(first);
      const answers = [];
      for (let attempt = 0; attempt < 10; attempt++)
        answers.push(await guess([first, second][attempt % 2]!, approver.secret));
      expect(statusesOf(answers)).toEqual({ 404: 5, 429: 5 });
      const right = await second.call("POST", `/v1/api/auth/codes/${userCode}/approve`, {
        key: approver.secret,
        body: { user_id: "u" },
      });
      expectError(right, 429, "RATE_LIMITED");
      // The window is the login lifetime (600 s by default), on both processes' clocks.
      first.clock.advanceSeconds(600);
      second.clock.advanceSeconds(600);
      expectError(await guess(second, approver.secret), 404, "NOT_FOUND");
    } finally {
      await second.close();
      await first.close();
    }
  });

  test("a right code costs no guesses: an approver may look codes up and approve as often as it likes", async () => {
    const world = await createWorld();
    try {
      const approver = await createApprover(world);
      for (let login = 0; login < 8; login++) {
        const { userCode } = await startCliLogin(world, { scopes: ["runs:read"] });
        expect((await world.call("GET", `/v1/api/auth/codes/${userCode}`, { key: approver.secret })).status).toBe(200);
        const approved = await world.call("POST", `/v1/api/auth/codes/${userCode}/approve`, {
          key: approver.secret,
          body: { user_id: "u" },
        });
        expect(approved.status).toBe(200);
      }
    } finally {
      await world.close();
    }
  });
});

describe("wrong user codes from one client address", () => {
  test("regression: count against the address, whichever keys it presents", async () => {
    const world = await createWorld({ transport: "http" });
    try {
      const { userCode } = await startCliLogin(world, { scopes: ["runs:read"] });
      for (let guess = 0; guess < 5; guess++) {
        const approver = await createApprover(world);
        const answer = await world.call("POST", "/v1/api/auth/codes/BBBB-BBBB/approve", {
          key: approver.secret,
          body: { user_id: "u" },
        });
        expectError(answer, 404, "NOT_FOUND");
      }
      const honest = await createApprover(world);
      const right = await world.call("POST", `/v1/api/auth/codes/${userCode}/approve`, {
        key: honest.secret,
        body: { user_id: "u" },
      });
      expectError(right, 429, "RATE_LIMITED");
    } finally {
      await world.close();
    }
  });
});
