/** RFC 8628 over the same sessions: raw requests for every answer, then a real client (openid-client) end to end. */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import * as client from "openid-client";
import { createApprover } from "../support/keys.ts";
import { createWorld, type World } from "../support/world.ts";

const DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";

/** What an RFC 8628 answer was, as the client saw it: its error, a token, a device code, or just its status. */
function describeAnswer(
  parsed: { error?: string; access_token?: string; device_code?: string },
  status: number,
): string {
  if (parsed.error) return parsed.error;
  if (parsed.access_token) return "token";
  return parsed.device_code ? "device_code" : String(status);
}

describe("RFC 8628 endpoints", () => {
  let world: World;
  beforeEach(async () => {
    world = await createWorld();
  });
  afterEach(() => world.close());

  const form = (path: string, fields: Record<string, string>) =>
    world.call("POST", path, {
      rawBody: new URLSearchParams(fields).toString(),
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
  const token = (deviceCode: string, clientId = world.defaultProjectId) =>
    form("/oauth/token", { grant_type: DEVICE_GRANT, device_code: deviceCode, client_id: clientId });

  test("device code, pending, slow_down, approval, the key once, then invalid_grant", async () => {
    const started = await form("/oauth/device/code", {
      client_id: world.defaultProjectId,
      scope: "runs:read runs:write",
    });
    expect(started.status).toBe(200);
    expect(started.body).toEqual({
      device_code: expect.stringMatching(/^cls_/),
      user_code: expect.stringMatching(/^[A-Z]{4}-[A-Z]{4}$/),
      verification_uri: "http://localhost:8787/device",
      verification_uri_complete: `http://localhost:8787/device?code=${started.body.user_code}`,
      expires_in: 600,
      interval: 5,
    });
    const deviceCode = started.body.device_code;
    expect((await token(deviceCode)).body).toEqual({
      error: "authorization_pending",
      error_description: expect.any(String),
    });
    world.clock.advanceSeconds(1);
    const slow = await token(deviceCode);
    expect({ status: slow.status, error: slow.body.error }).toEqual({ status: 400, error: "slow_down" });
    world.clock.advanceSeconds(5);
    expect((await token(deviceCode)).body.error).toBe("slow_down"); // 5 s after, but the interval became 10 s; now 15 s
    world.clock.advanceSeconds(15);
    expect((await token(deviceCode)).body.error).toBe("authorization_pending");
    const approver = await createApprover(world);
    await world.call("POST", `/v1/api/auth/codes/${started.body.user_code}/approve`, {
      key: approver.secret,
      body: { user_id: "u" },
    });
    world.clock.advanceSeconds(15);
    const issued = await token(deviceCode);
    expect(issued.status).toBe(200);
    expect(issued.body).toEqual({
      access_token: expect.stringMatching(/^sk_live_/),
      token_type: "Bearer",
      scope: "runs:read runs:write",
    });
    expect((await world.call("POST", "/v1/keys/verify", { body: { key: issued.body.access_token } })).body.valid).toBe(
      true,
    );
    world.clock.advanceSeconds(15);
    expect((await token(deviceCode)).body.error).toBe("invalid_grant");
    expect((await world.query("SELECT status, sealed_key FROM cli_sessions"))[0]).toEqual({
      status: "delivered",
      sealed_key: null,
    });
  });

  test("access_denied, expired_token, invalid_grant for another client or a made-up code", async () => {
    const approver = await createApprover(world);
    const denied = await form("/oauth/device/code", { client_id: world.defaultProjectId });
    await world.call("POST", `/v1/api/auth/codes/${denied.body.user_code}/deny`, { key: approver.secret });
    expect((await token(denied.body.device_code)).body.error).toBe("access_denied");
    const lapsing = await form("/oauth/device/code", { client_id: world.defaultProjectId });
    world.clock.advanceSeconds(600);
    expect((await token(lapsing.body.device_code)).body.error).toBe("expired_token");
    const fresh = await form("/oauth/device/code", { client_id: world.defaultProjectId });
    expect((await token(fresh.body.device_code, "prj_0000000000000000000000")).body.error).toBe("invalid_grant");
    expect((await token("cls_madeup")).body.error).toBe("invalid_grant");
  });

  test("malformed requests get the RFC's errors", async () => {
    expect((await form("/oauth/token", { grant_type: "password", username: "x" })).body.error).toBe(
      "unsupported_grant_type",
    );
    expect((await form("/oauth/token", { grant_type: DEVICE_GRANT })).body.error).toBe("invalid_request");
    const unknownClient = await form("/oauth/device/code", { client_id: "prj_0000000000000000000000" });
    expect({ status: unknownClient.status, error: unknownClient.body.error }).toEqual({
      status: 401,
      error: "invalid_client",
    });
    // Regression: the description named X-Project-Id, a header an RFC 8628 client never sends.
    expect(unknownClient.body.error_description).toBe("No such project. (client_id: no project has this id)");
    expect((await form("/oauth/device/code", { client_id: "nonsense" })).body.error).toBe("invalid_client");
    expect((await form("/oauth/device/code", { client_id: world.defaultProjectId, scope: "Runs:*" })).body.error).toBe(
      "invalid_scope",
    );
    const json = await world.call("POST", "/oauth/token", { body: { grant_type: DEVICE_GRANT } });
    // RFC 6749 §5.2: every error but invalid_client is a 400.
    expect({ status: json.status, error: json.body.error }).toEqual({ status: 400, error: "invalid_request" });
    const repeated = await world.call("POST", "/oauth/token", {
      rawBody: "grant_type=a&grant_type=b",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(repeated.body.error).toBe("invalid_request");
  });

  test("regression: an oversized body is 413 whether its length is announced or it is streamed (chunked)", async () => {
    const huge = `client_id=${world.defaultProjectId}&scope=${"a".repeat(200_000)}`;
    const announced = await form("/oauth/device/code", {
      client_id: world.defaultProjectId,
      scope: "a".repeat(200_000),
    });
    expect({ status: announced.status, error: announced.body.error }).toEqual({
      status: 413,
      error: "invalid_request",
    });
    const bytes = new TextEncoder().encode(huge);
    const streamed = await world.call("POST", "/oauth/device/code", {
      rawBody: new ReadableStream({
        start(controller) {
          for (let offset = 0; offset < bytes.length; offset += 4096)
            controller.enqueue(bytes.slice(offset, offset + 4096));
          controller.close();
        },
      }),
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect({ status: streamed.status, error: streamed.body.error }).toEqual({ status: 413, error: "invalid_request" });
  });
});

describe("a real RFC 8628 client: openid-client", () => {
  let world: World;
  let config: client.Configuration;
  const seen: string[] = [];
  beforeEach(async () => {
    world = await createWorld({ transport: "http", realTime: true });
    await world.call("PATCH", `/v1/projects/${world.defaultProjectId}`, {
      key: world.rootKey,
      body: { cli_poll_interval_seconds: 1 },
    });
    // The client reads the endpoints from latchkey's discovery document, which names the public URL as issuer.
    world.deps.settings.publicUrl = world.baseUrl;
    config = await client.discovery(new URL(world.baseUrl), world.defaultProjectId, undefined, client.None(), {
      execute: [client.allowInsecureRequests],
    });
    seen.length = 0;
    config[client.customFetch] = async (url, options) => {
      const response = await fetch(url, options as RequestInit);
      const body = await response.clone().text();
      const parsed = (() => {
        try {
          return JSON.parse(body);
        } catch {
          return {};
        }
      })();
      seen.push(describeAnswer(parsed, response.status));
      return response;
    };
  });
  afterEach(() => world.close());

  test("completes the flow, obeying slow_down, and the token is a working API key", async () => {
    const authorization = await client.initiateDeviceAuthorization(config, { scope: "runs:read" });
    const polling = client.pollDeviceAuthorizationGrant(config, authorization);
    // Poll once ourselves just before the client does, so its first poll comes too soon: slow_down.
    await Bun.sleep(800);
    await world.call("POST", "/oauth/token", {
      rawBody: new URLSearchParams({
        grant_type: DEVICE_GRANT,
        device_code: authorization.device_code,
        client_id: world.defaultProjectId,
      }).toString(),
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    const approver = await createApprover(world);
    await Bun.sleep(400);
    await world.call("POST", `/v1/api/auth/codes/${authorization.user_code}/approve`, {
      key: approver.secret,
      body: { user_id: "cli-user" },
    });
    const tokens = await polling;
    expect(seen).toContain("slow_down");
    expect(seen.at(-1)).toBe("token");
    expect(tokens.token_type.toLowerCase()).toBe("bearer");
    expect(tokens.scope).toBe("runs:read");
    const verified = await world.call("POST", "/v1/keys/verify", { body: { key: tokens.access_token } });
    expect(verified.body).toMatchObject({ valid: true, owner: "cli-user", scopes: ["runs:read"] });
  }, 20_000);

  test("access_denied reaches the client as an error", async () => {
    const authorization = await client.initiateDeviceAuthorization(config, { scope: "runs:read" });
    const approver = await createApprover(world);
    await world.call("POST", `/v1/api/auth/codes/${authorization.user_code}/deny`, { key: approver.secret });
    const outcome = await client.pollDeviceAuthorizationGrant(config, authorization).then(
      () => "granted",
      (error: { error?: string }) => error.error,
    );
    expect(outcome).toBe("access_denied");
  }, 20_000);
});
