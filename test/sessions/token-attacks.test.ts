/**
 * The attack corpus: tokens an attacker can make or alter. None may authenticate; each is SESSION_INVALID (only a
 * genuine token past its exp is SESSION_EXPIRED).
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { CompactEncrypt, exportJWK, generateKeyPair, SignJWT } from "jose";
import { createKey, createTenantWithKey, expectError, mintSession } from "../support/keys.ts";
import { createWorld, type World } from "../support/world.ts";

const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

describe("session tokens an attacker made or changed are refused", () => {
  let world: World;
  let genuine: string;
  let claims: Record<string, unknown>;
  let kid: string;

  beforeEach(async () => {
    world = await createWorld();
    const key = await createKey(world, { scopes: ["keys:read", "keys:write"] });
    genuine = await mintSession(world, key.secret, { scopes: ["keys:read"] });
    claims = JSON.parse(Buffer.from(genuine.split(".")[1]!, "base64url").toString());
    kid = JSON.parse(Buffer.from(genuine.split(".")[0]!, "base64url").toString()).kid;
  });
  afterEach(() => world.close());

  async function expectRefused(token: string, code = "SESSION_INVALID") {
    const answer = await world.call("GET", "/v1/keys", { headers: { "x-session-token": token } });
    expectError(answer, 401, code);
  }

  /** Signs arbitrary claims with latchkey's own current key: what only a bug could produce, to test claim checks. */
  async function signWithOurKey(payload: Record<string, unknown>, header: Record<string, unknown> = {}) {
    const signer = await world.deps.sessions.ring.signer(world.clock.nowMilliseconds());
    return new SignJWT(payload)
      .setProtectedHeader({ alg: "EdDSA", typ: "lk-session+jwt", kid: signer.kid, ...header })
      .sign(signer.key);
  }

  test("the genuine token works (the corpus below differs from it in one way each)", async () => {
    expect((await world.call("GET", "/v1/keys", { headers: { "x-session-token": genuine } })).status).toBe(200);
  });

  test("alg: none, with and without a signature", async () => {
    const header = encode({ alg: "none", typ: "lk-session+jwt", kid });
    await expectRefused(`${header}.${encode(claims)}.`);
    await expectRefused(`${header}.${encode(claims)}.${genuine.split(".")[2]}`);
  });

  test("HS256 signed with our public key, as a string and as raw bytes", async () => {
    const jwks = (await world.call("GET", "/.well-known/jwks.json")).body;
    const publicJwk = jwks.keys[0];
    for (const secret of [
      new TextEncoder().encode(JSON.stringify(publicJwk)),
      new Uint8Array(Buffer.from(publicJwk.x, "base64url")),
    ]) {
      const forged = await new SignJWT(claims)
        .setProtectedHeader({ alg: "HS256", typ: "lk-session+jwt", kid })
        .sign(secret);
      await expectRefused(forged);
    }
  });

  test("an embedded jwk (the attacker's own key) is never used", async () => {
    const attacker = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
    const jwk = await exportJWK(attacker.publicKey);
    for (const header of [
      { alg: "EdDSA", typ: "lk-session+jwt", kid, jwk },
      { alg: "EdDSA", typ: "lk-session+jwt", jwk },
      { alg: "EdDSA", typ: "lk-session+jwt", kid, jku: "https://evil.example.net/jwks.json" },
    ]) {
      await expectRefused(await new SignJWT(claims).setProtectedHeader(header).sign(attacker.privateKey));
    }
  });

  test("an unknown or path-like kid", async () => {
    const attacker = await generateKeyPair("EdDSA", { crv: "Ed25519" });
    for (const badKid of [
      "sig_0000000000000000000000",
      "../../../etc/passwd",
      "sig_../../x",
      "",
      `sig_${"A".repeat(5000)}`,
    ]) {
      await expectRefused(
        await new SignJWT(claims)
          .setProtectedHeader({ alg: "EdDSA", typ: "lk-session+jwt", kid: badKid })
          .sign(attacker.privateKey),
      );
    }
  });

  test("a tampered payload or signature", async () => {
    const [header, , signature] = genuine.split(".");
    await expectRefused(`${header}.${encode({ ...claims, scp: ["keys:read", "keys:write"] })}.${signature}`);
    await expectRefused(`${header}.${encode({ ...claims, sub: "admin" })}.${signature}`);
    const bytes = Buffer.from(signature!, "base64url");
    bytes[0] = bytes[0]! ^ 0x01;
    await expectRefused(`${header}.${genuine.split(".")[1]}.${bytes.toString("base64url")}`);
    await expectRefused(`${header}.${genuine.split(".")[1]}.${signature!.slice(0, -4)}`);
  });

  test("expired, not yet valid, issued in the future", async () => {
    const now = Math.floor(world.clock.nowMilliseconds() / 1000);
    await expectRefused(await signWithOurKey({ ...claims, nbf: now + 60 }));
    await expectRefused(await signWithOurKey({ ...claims, iat: now + 60, exp: now + 900 }));
    await expectRefused(await signWithOurKey({ ...claims, iat: now - 90_000, exp: now + 900 }));
    world.clock.advanceSeconds(15 * 60);
    await expectRefused(genuine, "SESSION_EXPIRED");
  });

  test("a wrong audience or issuer, even with our signature", async () => {
    const other = await createTenantWithKey(world, ["keys:read"]);
    await expectRefused(await signWithOurKey({ ...claims, aud: other.projectId }));
    await expectRefused(await signWithOurKey({ ...claims, aud: "prj_0000000000000000000000" }));
    await expectRefused(await signWithOurKey({ ...claims, aud: [claims.aud, other.projectId] }));
    await expectRefused(await signWithOurKey({ ...claims, iss: "https://evil.example.net" }));
  });

  test("regression: a token that names the root key as its parent is refused, whatever scopes it claims", async () => {
    const rootId = (await world.call("GET", "/v1/keys", { key: world.rootKey })).body.data.find(
      (key: { root: boolean }) => key.root,
    );
    const rootSecretVersion = (await import("../../src/auth/principal.ts")).secretVersionOf(
      (await import("../../src/domain/keys/secret.ts")).hashSecret(world.rootKey),
    );
    const forged = await signWithOurKey({
      ...claims,
      key: rootId.id,
      kv: rootSecretVersion,
      scp: ["keys:read", "runs:write"],
    });
    await expectRefused(forged);
    const authz = await world.call("GET", "/v1/authz?scopes=runs:write", { headers: { "x-session-token": forged } });
    expectError(authz, 401, "SESSION_INVALID");
  });

  /** Signs any header and payload bytes with our key, below jose (which would refuse to write some of them). */
  async function signRawWithOurKey(header: Record<string, unknown>, payload: Record<string, unknown>) {
    const signer = await world.deps.sessions.ring.signer(world.clock.nowMilliseconds());
    const signingInput = `${encode({ ...header, kid: signer.kid })}.${encode(payload)}`;
    const signature = await crypto.subtle.sign("Ed25519", signer.key, new TextEncoder().encode(signingInput));
    return `${signingInput}.${Buffer.from(signature).toString("base64url")}`;
  }

  test("a wrong typ, an unknown critical header, or missing claims, even with our signature", async () => {
    const validHeader = { alg: "EdDSA", typ: "lk-session+jwt" };
    expect(
      (
        await world.call("GET", "/v1/keys", {
          headers: { "x-session-token": await signRawWithOurKey(validHeader, claims) },
        })
      ).status,
    ).toBe(200);
    await expectRefused(await signWithOurKey(claims, { typ: "JWT" }));
    await expectRefused(await signRawWithOurKey({ ...validHeader, crit: ["exp-policy"], "exp-policy": 1 }, claims));
    const { kv: _kv, ...withoutVersion } = claims;
    await expectRefused(await signWithOurKey(withoutVersion));
    const { key: _key, ...withoutParent } = claims;
    await expectRefused(await signWithOurKey(withoutParent));
    await expectRefused(await signWithOurKey({ ...claims, scp: "keys:read" }));
  });

  test("a token from another latchkey instance", async () => {
    const elsewhere = await createWorld();
    try {
      const key = await createKey(elsewhere, { scopes: ["keys:read"] });
      await expectRefused(await mintSession(elsewhere, key.secret, { scopes: ["keys:read"] }));
    } finally {
      await elsewhere.close();
    }
  });

  test("a token for another project, where the caller names its own", async () => {
    const other = await createTenantWithKey(world, ["keys:read"]);
    const token = await mintSession(world, other.key.secret, { scopes: ["keys:read"] });
    const answer = await world.call("GET", "/v1/keys", {
      headers: { "x-session-token": token, "x-project-id": world.defaultProjectId },
    });
    expectError(answer, 401, "SESSION_INVALID");
  });

  test("JWE input, garbage and oversized tokens", async () => {
    const { publicKey } = await generateKeyPair("ECDH-ES", { crv: "P-256" });
    const jwe = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify(claims)))
      .setProtectedHeader({ alg: "ECDH-ES", enc: "A256GCM", typ: "lk-session+jwt", kid })
      .encrypt(publicKey);
    await expectRefused(jwe);
    for (const garbage of ["x", "a.b.c", "....", `${genuine}.${genuine}`, "e".repeat(20_000)])
      await expectRefused(garbage);
  });

  test("regression: a token spelled otherwise only in the spare bits of its last character is refused", async () => {
    // An Ed25519 signature is 64 bytes: 86 base64url characters, the last of which carries 4 bits that decoders
    // ignore. Each of the 15 other spellings decodes to the same signature; a token is one string (a cache key, what
    // users deny-list), so only the canonical spelling counts.
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const [header, payload, signature] = genuine.split(".") as [string, string, string];
    const last = alphabet.indexOf(signature.at(-1)!);
    expect(last & 0b1111).toBe(0);
    // Used first, so a variant meets a warm cache holding the genuine token's claims.
    expect((await world.call("GET", "/v1/keys", { headers: { "x-session-token": genuine } })).status).toBe(200);
    for (let unusedBits = 1; unusedBits < 16; unusedBits++) {
      const variant = `${header}.${payload}.${signature.slice(0, -1)}${alphabet[last | unusedBits]}`;
      expect(Buffer.from(variant.split(".")[2]!, "base64url")).toEqual(Buffer.from(signature, "base64url"));
      await expectRefused(variant);
      const verified = await world.call("POST", "/v1/keys/verify", { body: { token: variant } });
      expect({ valid: verified.body.valid, code: verified.body.code }).toEqual({
        valid: false,
        code: "SESSION_INVALID",
      });
    }
    // The header and payload are held to the same rule, even though their signature would fail anyway.
    const headerTail = alphabet.indexOf(header.at(-1)!);
    if (header.length % 4 !== 0) {
      await expectRefused(`${header.slice(0, -1)}${alphabet[headerTail ^ 1]}.${payload}.${signature}`);
    }
    expect((await world.call("GET", "/v1/keys", { headers: { "x-session-token": genuine } })).status).toBe(200);
  });

  test("no refusal echoes the token", async () => {
    const answer = await world.call("GET", "/v1/keys", { headers: { "x-session-token": `${genuine}x` } });
    expect(answer.text).not.toContain(genuine.slice(0, 40));
  });
});
