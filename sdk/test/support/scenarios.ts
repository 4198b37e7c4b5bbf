/**
 * What every middleware must do, checked over real HTTP against an app built on it (test/apps/) in front of a real
 * latchkey: allowed with the identity attached and latchkey's rate-limit headers, refused with latchkey's status, body
 * and headers (no key, missing scope, rate limited, revoked), 503 when latchkey is away, offline tokens verified and
 * forged ones refused.
 */
import { expect } from "bun:test";
import { generateKeyPair, SignJWT } from "jose";
import { freePort } from "../../../test/support/ports.ts";
import { Latchkey } from "../../src/index.ts";

const BROWSER_ORIGIN = "https://app.example.com";

export interface Latchkeyd {
  /** Where the tests reach it. */
  url: string;
  /** Its public URL, which its tokens carry as `iss` (the default one). */
  publicUrl: string;
  rootKey: string;
  projectId: string;
}

/** Keys and tokens the scenarios use, made once per latchkey. */
export async function fixtures(server: Latchkeyd) {
  const admin = new Latchkey({ baseUrl: server.url, key: server.rootKey });
  const create = (name: string, extra: Record<string, unknown> = {}) =>
    admin.keys.create({ name, scopes: ["runs:read", "keys:read"], owner: "user_1", ...extra });
  const key = await create("scenario");
  await admin.projects.update(server.projectId, { allowed_origins: [BROWSER_ORIGIN] });
  const user = new Latchkey({ baseUrl: server.url, key: key.secret });
  const token = (await user.sessions.create({ user_id: "alice", scopes: ["runs:read"] })).token;
  return { admin, create, key, token };
}

type Fixtures = Awaited<ReturnType<typeof fixtures>>;

async function ask(appUrl: string, path: string, headers: Record<string, string> = {}, method = "GET") {
  const response = await fetch(`${appUrl}${path}`, { headers, method });
  const text = await response.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: response.status, headers: response.headers, body };
}

const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });

/** Runs every scenario against the app at `appUrl`; each failure names the scenario. */
export async function checkScenarios(appUrl: string, server: Latchkeyd, { create, key, token }: Fixtures) {
  const allowed = await ask(appUrl, "/read", bearer(key.secret));
  expect(allowed.status, "allowed").toBe(200);
  expect(allowed.body.latchkey).toEqual({
    keyId: key.id,
    projectId: server.projectId,
    tenantId: expect.stringMatching(/^ten_/),
    // What latchkey names the caller: a key speaks for itself (its owner is in client.verify's answer).
    subject: key.id,
    scopes: ["runs:read", "keys:read"],
    credential: "key",
  });
  expect(allowed.headers.get("x-ratelimit-limit"), "rate-limit headers on an allowed answer").toMatch(/^\d+$/);
  expect(allowed.headers.get("ratelimit-policy")).toContain("q=");

  const none = await ask(appUrl, "/read");
  expect(none.status, "no key").toBe(401);
  expect(none.body.error.code).toBe("API_KEY_REQUIRED");
  expect(none.body.error.request_id).toEqual(expect.any(String));
  expect(none.headers.get("www-authenticate")).toContain("Bearer");

  const scope = await ask(appUrl, "/write", bearer(key.secret));
  expect(scope.status, "missing scope").toBe(403);
  expect(scope.body.error.code).toBe("SCOPE_NOT_GRANTED");

  const limited = await create("limited", { ratelimit: { limit: 1, window_seconds: 3600 } });
  expect((await ask(appUrl, "/read", bearer(limited.secret))).status).toBe(200);
  const refused = await ask(appUrl, "/read", bearer(limited.secret));
  expect(refused.status, "rate limited").toBe(429);
  expect(refused.body.error.code).toBe("RATE_LIMITED");
  expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);

  const revoked = await create("revoked");
  await new Latchkey({ baseUrl: server.url, key: server.rootKey }).keys.revoke(revoked.id);
  const gone = await ask(appUrl, "/read", bearer(revoked.secret));
  expect(gone.status, "revoked").toBe(401);
  expect(gone.body.error.code).toBe("API_KEY_REVOKED");

  // The browser rule: a write from a page (Origin) with a bare key needs a session token; a read does not.
  const fromPage = { ...bearer(key.secret), origin: BROWSER_ORIGIN };
  const write = await ask(appUrl, "/read", fromPage, "POST");
  expect(write.status, "a browser's write with a bare key").toBe(401);
  expect(write.body.error.code).toBe("SESSION_REQUIRED");
  expect((await ask(appUrl, "/read", fromPage)).status, "a browser's read with a key").toBe(200);
  const withToken = await ask(appUrl, "/read", { "x-session-token": token, origin: BROWSER_ORIGIN }, "POST");
  expect(withToken.status, "a browser's write with a session token").toBe(200);

  const down = await ask(appUrl, "/down", bearer(key.secret));
  expect(down.status, "latchkey down").toBe(503);
  expect(down.body.error.code).toBe("UNAVAILABLE");
  expect(down.headers.get("retry-after")).toBe("1");
  expect(down.body.error.message, "why and where").toMatch(
    /^latchkey could not be reached: ECONNREFUSED \(127\.0\.0\.1:\d+\)$/,
  );
  const readOnly = await ask(appUrl, "/down-read-only", bearer(key.secret));
  expect(readOnly.status, "fail-open for a read-only route, when asked").toBe(200);
  expect(readOnly.body.latchkey).toBeNull();

  const remoteToken = await ask(appUrl, "/read", { "x-session-token": token });
  expect(remoteToken.status, "a session token, asked of latchkey").toBe(200);
  expect(remoteToken.body.latchkey).toMatchObject({ subject: "alice", credential: "token", keyId: key.id });

  const offline = await ask(appUrl, "/offline", { "x-session-token": token });
  expect(offline.status, "a session token, verified offline").toBe(200);
  expect(offline.body.latchkey).toEqual({
    keyId: key.id,
    projectId: server.projectId,
    tenantId: null,
    subject: "alice",
    scopes: ["runs:read"],
    credential: "token",
  });
  const forgedToken = await ask(appUrl, "/offline", { "x-session-token": await forged(token) });
  expect(forgedToken.status, "a forged token, offline").toBe(401);
  expect(forgedToken.body.error.code).toBe("SESSION_INVALID");
  expect(JSON.stringify(forgedToken.body), "jose's reason stays out of the answer").not.toMatch(/ERR_J|signature/i);
}

/** The token's header and claims, signed with a key latchkey never published. */
export async function forged(token: string): Promise<string> {
  const [header, payload] = token
    .split(".")
    .slice(0, 2)
    .map((part) => JSON.parse(Buffer.from(part, "base64url").toString()));
  const { privateKey } = await generateKeyPair("EdDSA");
  return new SignJWT(payload).setProtectedHeader(header).sign(privateKey);
}

/** Starts a scenario app (test/apps/) in front of `server`; it prints the port it listens on. */
export async function startApp(command: string[], server: Latchkeyd, cwd?: string) {
  // A port nothing listens on (and no fetch refuses to dial, as Node's does port 9).
  const deadUrl = `http://127.0.0.1:${await freePort()}`;
  const child = Bun.spawn(command, {
    env: { ...process.env, LATCHKEY_URL: server.url, PROJECT_ID: server.projectId, DEAD_URL: deadUrl },
    stdout: "pipe",
    stderr: "pipe",
    ...(cwd ? { cwd } : {}),
  });
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    text += decoder.decode(chunk, { stream: true });
    const port = /listening (\d+)/.exec(text)?.[1];
    if (port) return { url: `http://127.0.0.1:${port}`, stop: () => child.kill() };
  }
  throw new Error(`${command.join(" ")} exited before listening: ${text}${await new Response(child.stderr).text()}`);
}

/** The host app's side of a CLI login: `approver` (a key with cli:approve) approves `userCode` for `userId`. */
export async function approveLogin(server: Latchkeyd, approver: string, userCode: string, userId: string) {
  const approval = await fetch(`${server.url}/v1/api/auth/codes/${userCode}/approve`, {
    method: "POST",
    headers: { authorization: `Bearer ${approver}`, "content-type": "application/json" },
    body: JSON.stringify({ user_id: userId }),
  });
  expect(approval.status, `${userCode}: ${await approval.text()}`).toBe(200);
}
