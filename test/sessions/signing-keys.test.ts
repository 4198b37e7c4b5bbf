import { afterEach, describe, expect, test } from "bun:test";
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { rotateSigningKeyIfDue } from "../../src/domain/sessions/service.ts";
import { MAX_TOKEN_LIFETIME_SECONDS } from "../../src/domain/sessions/signing-keys.ts";
import { createKey, expectError, mintSession } from "../support/keys.ts";
import { createWorld, type World } from "../support/world.ts";

describe("signing keys", () => {
  let world: World;
  afterEach(() => world.close());

  const jwks = async () => (await world.call("GET", "/.well-known/jwks.json")).body.keys as Record<string, string>[];
  const kidOf = (token: string) => decodeProtectedHeader(token).kid;

  test("the JWKS holds public keys only, each with kid, alg and use, cacheable briefly", async () => {
    world = await createWorld();
    const answer = await world.call("GET", "/.well-known/jwks.json");
    expect(answer.status).toBe(200);
    expect(answer.headers.get("cache-control")).toBe("public, max-age=60");
    expect(answer.body.keys).toEqual([
      {
        kty: "OKP",
        crv: "Ed25519",
        x: expect.any(String),
        kid: expect.stringMatching(/^sig_/),
        alg: "EdDSA",
        use: "sig",
      },
    ]);
    expect(answer.text).not.toContain('"d"');
  });

  test("a rotation publishes the new key first, signs with it once active, keeps the old one verifying", async () => {
    world = await createWorld();
    const key = await createKey(world, { scopes: ["keys:read"] });
    const before = await mintSession(world, key.secret, { scopes: ["keys:read"] });
    const rotated = await world.call("POST", "/v1/signing-keys/rotate", {
      key: world.rootKey,
      body: { activate_in_seconds: 60 },
    });
    expect(rotated.status).toBe(200);
    expect(rotated.body).toMatchObject({
      status: "pending",
      activates_at: "2026-01-01T00:01:00.000Z",
      retires_at: null,
    });
    const newKid = rotated.body.kid;
    expect((await jwks()).map((jwk) => jwk.kid)).toEqual([kidOf(before), newKid]);

    const duringLead = await mintSession(world, key.secret, { scopes: ["keys:read"] });
    expect(kidOf(duringLead)).toBe(kidOf(before));
    world.clock.advanceSeconds(60);
    const after = await mintSession(world, key.secret, { scopes: ["keys:read"] });
    expect(kidOf(after)).toBe(newKid);

    for (const token of [before, duringLead, after]) {
      expect((await world.call("GET", "/v1/keys", { headers: { "x-session-token": token } })).status).toBe(200);
    }
    const localSet = createLocalJWKSet({ keys: await jwks() } as never);
    for (const token of [before, after]) {
      await jwtVerify(token, localSet, { currentDate: new Date(world.clock.nowMilliseconds()), algorithms: ["EdDSA"] });
    }
    const listed = await world.call("GET", "/v1/signing-keys", { key: world.rootKey });
    expect(listed.body.data.map((signingKey: { status: string }) => signingKey.status)).toEqual(["retired", "active"]);
  });

  test("a retired key leaves the JWKS once every token it signed has expired, and verifies nothing after", async () => {
    world = await createWorld();
    const key = await createKey(world, { scopes: ["keys:read"] });
    const oldToken = await mintSession(world, key.secret, { scopes: ["keys:read"] });
    const rotated = await world.call("POST", "/v1/signing-keys/rotate", {
      key: world.rootKey,
      body: { activate_in_seconds: 0 },
    });
    world.clock.advanceSeconds(MAX_TOKEN_LIFETIME_SECONDS - 1);
    expect((await jwks()).length).toBe(2);
    world.clock.advanceSeconds(1);
    expect((await jwks()).map((jwk) => jwk.kid)).toEqual([rotated.body.kid]);
    // Its key is gone, so the token cannot even be proven genuine: invalid rather than expired.
    expectError(
      await world.call("GET", "/v1/keys", { headers: { "x-session-token": oldToken } }),
      401,
      "SESSION_INVALID",
    );
  });

  test("rotation happens by itself once the key is older than the configured age, and only once", async () => {
    world = await createWorld({ settings: { signingKeyRotationDays: 30 } });
    expect(await rotateSigningKeyIfDue(world.deps, world.clock.nowMilliseconds())).toBeNull();
    world.clock.advanceSeconds(30 * 86_400);
    const rotation = await rotateSigningKeyIfDue(world.deps, world.clock.nowMilliseconds());
    expect(rotation).not.toBeNull();
    expect(await rotateSigningKeyIfDue(world.deps, world.clock.nowMilliseconds())).toBeNull();
    expect((await jwks()).map((jwk) => jwk.kid)).toContain(rotation!.kid);
    const audit = await world.call("GET", "/v1/audit?action=signing_key.rotated", { key: world.rootKey });
    expect(audit.body.data).toMatchObject([{ actor: { type: "system" }, details: { automatic: true } }]);
  });

  test("rotation input is validated and needs the root key", async () => {
    world = await createWorld();
    const key = await createKey(world, { scopes: ["keys:write"] });
    expectError(await world.call("POST", "/v1/signing-keys/rotate", { key: key.secret }), 403, "SCOPE_NOT_GRANTED");
    for (const lead of [-1, 86_401, "soon"]) {
      expectError(
        await world.call("POST", "/v1/signing-keys/rotate", {
          key: world.rootKey,
          body: { activate_in_seconds: lead },
        }),
        400,
        "VALIDATION_FAILED",
      );
    }
  });
});

describe("private signing keys at rest", () => {
  test("with LATCHKEY_MASTER_KEY they are sealed; the database alone holds no private key", async () => {
    const world = await createWorld({ masterKeyText: "correct horse battery staple 0123456789" });
    try {
      const rows = await world.query<{ private_key: string }>("SELECT private_key FROM signing_keys");
      expect(rows.length).toBe(1);
      for (const row of rows) {
        expect(row.private_key).toStartWith("enc:v1:");
        expect(row.private_key).not.toContain('"d"');
      }
      const key = await createKey(world, { scopes: ["keys:read"] });
      const token = await mintSession(world, key.secret, { scopes: ["keys:read"] });
      expect((await world.call("GET", "/v1/keys", { headers: { "x-session-token": token } })).status).toBe(200);
    } finally {
      await world.close();
    }
  });

  test("without a master key they are stored as JWKs", async () => {
    const world = await createWorld();
    try {
      const row = (await world.query<{ private_key: string }>("SELECT private_key FROM signing_keys"))[0]!;
      expect(JSON.parse(row.private_key)).toMatchObject({ kty: "OKP", crv: "Ed25519", d: expect.any(String) });
    } finally {
      await world.close();
    }
  });
});
