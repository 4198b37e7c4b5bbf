/** The discovery document: where a verifier finds the issuer it must pin, the JWKS, and the device grant. */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { decodeJwt } from "jose";
import { createKey, mintSession } from "../support/keys.ts";
import { createWorld, type World } from "../support/world.ts";

describe("GET /.well-known/openid-configuration", () => {
  let world: World;
  beforeEach(async () => {
    world = await createWorld();
  });
  afterEach(() => world.close());

  test("regression: names the issuer the tokens carry, which is the public URL and not the address asked", async () => {
    world.deps.settings.publicUrl = "https://auth.example.com";
    const key = await createKey(world, { scopes: ["runs:read"] });
    const token = await mintSession(world, key.secret);
    const answer = await world.call("GET", "/.well-known/openid-configuration");
    expect(answer.status).toBe(200);
    expect(answer.body.issuer).toBe(decodeJwt(token).iss!);
    expect(answer.body).toEqual({
      issuer: "https://auth.example.com",
      jwks_uri: "https://auth.example.com/.well-known/jwks.json",
      device_authorization_endpoint: "https://auth.example.com/oauth/device/code",
      token_endpoint: "https://auth.example.com/oauth/token",
      grant_types_supported: ["urn:ietf:params:oauth:grant-type:device_code"],
      token_endpoint_auth_methods_supported: ["none"],
    });
    expect(answer.headers.get("cache-control")).toBe("public, max-age=300");
  });

  test("each URL it names answers: the JWKS verifies the token, the device endpoint starts a login", async () => {
    const { body } = await world.call("GET", "/.well-known/openid-configuration");
    const local = (url: string) => new URL(url).pathname;
    const jwks = await world.call("GET", local(body.jwks_uri));
    expect(jwks.status).toBe(200);
    expect(jwks.body.keys.length).toBeGreaterThan(0);
    const started = await world.call("POST", local(body.device_authorization_endpoint), {
      rawBody: new URLSearchParams({ client_id: world.defaultProjectId }).toString(),
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(started.status).toBe(200);
    expect(started.body.device_code).toEqual(expect.any(String));
  });
});
