/**
 * The session-token check verifies the signature with node:crypto and writes the header and claim rules out itself.
 * These tests hold it to the rules it replaced: jose's jwtVerify with everything pinned, then the claim schema. Every
 * token below is signed with latchkey's own key (what only a bug could mint), so only the rules can refuse it, and
 * both checks must give the same answer, code for code.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { decodeProtectedHeader, importJWK, jwtVerify } from "jose";
import { MAX_TOKEN_LIFETIME_SECONDS } from "../../src/domain/sessions/signing-keys.ts";
import {
  checkSessionToken,
  refusedClaims,
  SESSION_TOKEN_TYPE,
  SessionClaims,
} from "../../src/domain/sessions/tokens.ts";
import { AppError } from "../../src/lib/errors.ts";
import { createKey, mintSession } from "../support/keys.ts";
import { createWorld, type World } from "../support/world.ts";

const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

type Outcome = "ok" | "SESSION_INVALID" | "SESSION_EXPIRED";

describe("the session-token check keeps jose's rules, code for code", () => {
  let world: World;
  let claims: Record<string, unknown>;
  let nowSeconds: number;

  beforeEach(async () => {
    world = await createWorld();
    const key = await createKey(world, { scopes: ["keys:read"] });
    const genuine = await mintSession(world, key.secret, { scopes: ["keys:read"] });
    claims = JSON.parse(Buffer.from(genuine.split(".")[1]!, "base64url").toString());
    nowSeconds = Math.floor(world.clock.nowMilliseconds() / 1000);
  });
  afterEach(() => world.close());

  async function signRaw(header: Record<string, unknown>, payload: unknown): Promise<string> {
    const signer = await world.deps.sessions.ring.signer(world.clock.nowMilliseconds());
    const signingInput = `${encode({ kid: signer.kid, ...header })}.${encode(payload)}`;
    const signature = await crypto.subtle.sign("Ed25519", signer.key, new TextEncoder().encode(signingInput));
    return `${signingInput}.${Buffer.from(signature).toString("base64url")}`;
  }

  async function checked(token: string): Promise<Outcome> {
    const check = await checkSessionToken(
      world.deps.sessions.ring,
      world.deps.settings.publicUrl,
      token,
      world.clock.nowMilliseconds(),
    );
    return check instanceof AppError ? (check.code as Outcome) : "ok";
  }

  /** The previous check's rules: jose's jwtVerify, pinned as before, then the same claim schema. */
  async function byJose(token: string): Promise<Outcome> {
    const header = decodeProtectedHeader(token);
    if (header.typ !== SESSION_TOKEN_TYPE) return "SESSION_INVALID";
    const jwks = await world.deps.sessions.ring.jwks(world.clock.nowMilliseconds());
    const publicKey = await importJWK(jwks.find((jwk) => jwk.kid === header.kid)!, "EdDSA");
    try {
      const { payload } = await jwtVerify(token, publicKey, {
        algorithms: ["EdDSA"],
        issuer: world.deps.settings.publicUrl,
        audience: String(claims.aud),
        typ: SESSION_TOKEN_TYPE,
        maxTokenAge: MAX_TOKEN_LIFETIME_SECONDS,
        currentDate: new Date(world.clock.nowMilliseconds()),
        requiredClaims: ["sub", "jti", "exp", "iat", "key", "kv", "scp"],
      });
      return SessionClaims.safeParse(payload).success ? "ok" : "SESSION_INVALID";
    } catch (error) {
      const { code, claim } = error as { code?: string; claim?: string };
      return code === "ERR_JWT_EXPIRED" && claim === "exp" ? "SESSION_EXPIRED" : "SESSION_INVALID";
    }
  }

  const header = { alg: "EdDSA", typ: SESSION_TOKEN_TYPE };
  const without = (name: string) => Object.fromEntries(Object.entries(claims).filter(([claim]) => claim !== name));
  const variants: [string, () => Record<string, unknown>][] = [
    ["the genuine claims", () => claims],
    ...["iss", "aud", "iat", "sub", "jti", "exp", "key", "kv", "scp"].map(
      (name) => [`no ${name}`, () => without(name)] as [string, () => Record<string, unknown>],
    ),
    ["another issuer", () => ({ ...claims, iss: "https://evil.example.net" })],
    ["exp now", () => ({ ...claims, exp: nowSeconds })],
    ["exp a second ago", () => ({ ...claims, exp: nowSeconds - 1 })],
    ["exp a second ahead", () => ({ ...claims, exp: nowSeconds + 1 })],
    ["exp as a string", () => ({ ...claims, exp: String(nowSeconds + 60) })],
    ["exp past and another issuer", () => ({ ...claims, exp: nowSeconds - 1, iss: "https://evil.example.net" })],
    ["exp past and a bad scope list", () => ({ ...claims, exp: nowSeconds - 1, scp: "keys:read" })],
    ["exp past and iat too old", () => ({ ...claims, exp: nowSeconds - 1, iat: nowSeconds - 100_000 })],
    ["exp past and nbf ahead", () => ({ ...claims, exp: nowSeconds - 1, nbf: nowSeconds + 1 })],
    ["iat a second ahead", () => ({ ...claims, iat: nowSeconds + 1 })],
    ["iat now", () => ({ ...claims, iat: nowSeconds })],
    ["iat exactly the longest lifetime ago", () => ({ ...claims, iat: nowSeconds - MAX_TOKEN_LIFETIME_SECONDS })],
    ["iat a second older than that", () => ({ ...claims, iat: nowSeconds - MAX_TOKEN_LIFETIME_SECONDS - 1 })],
    ["iat as a string", () => ({ ...claims, iat: String(nowSeconds) })],
    ["iat fractional", () => ({ ...claims, iat: nowSeconds - 0.5 })],
    ["nbf now", () => ({ ...claims, nbf: nowSeconds })],
    ["nbf a second ahead", () => ({ ...claims, nbf: nowSeconds + 1 })],
    ["nbf null", () => ({ ...claims, nbf: null })],
    ["a bad scope list", () => ({ ...claims, scp: ["Keys:Read"] })],
    ["an empty subject", () => ({ ...claims, sub: "" })],
    ["a bad parent key id", () => ({ ...claims, key: "key_x" })],
    ["an unknown extra claim", () => ({ ...claims, role: "admin" })],
  ];

  for (const [name, payload] of variants) {
    test(`same answer as jose for ${name}`, async () => {
      const token = await signRaw(header, payload());
      expect(await checked(token)).toBe(await byJose(token));
    });
  }

  test("the expected answers for the boundaries (so agreeing with jose is not agreeing on a mistake)", async () => {
    const outcomes: Record<string, Outcome> = {};
    for (const [name, payload] of variants) outcomes[name] = await checked(await signRaw(header, payload()));
    expect(outcomes).toMatchObject({
      "the genuine claims": "ok",
      "no exp": "SESSION_INVALID",
      "exp now": "SESSION_EXPIRED",
      "exp a second ahead": "ok",
      "exp past and another issuer": "SESSION_INVALID",
      "exp past and iat too old": "SESSION_EXPIRED",
      "iat a second ahead": "SESSION_INVALID",
      "iat exactly the longest lifetime ago": "ok",
      "iat a second older than that": "SESSION_INVALID",
      "nbf now": "ok",
      "nbf a second ahead": "SESSION_INVALID",
      "an unknown extra claim": "ok",
    });
  });

  test("a header or payload that is not a JSON object, or not UTF-8, is refused even with our signature", async () => {
    const signer = await world.deps.sessions.ring.signer(world.clock.nowMilliseconds());
    const sign = async (encodedHeader: string, encodedPayload: string) => {
      const input = `${encodedHeader}.${encodedPayload}`;
      const signature = await crypto.subtle.sign("Ed25519", signer.key, new TextEncoder().encode(input));
      return `${input}.${Buffer.from(signature).toString("base64url")}`;
    };
    const goodHeader = encode({ ...header, kid: signer.kid });
    expect(await checked(await sign(goodHeader, encode(claims)))).toBe("ok");
    for (const payload of [encode([claims]), encode("claims"), encode(null), Buffer.from([0xff]).toString("base64url")])
      expect(await checked(await sign(goodHeader, payload))).toBe("SESSION_INVALID");
    expect(await checked(await sign(encode([{ ...header, kid: signer.kid }]), encode(claims)))).toBe("SESSION_INVALID");
    const notUtf8 = Buffer.concat([
      Buffer.from(JSON.stringify(claims).slice(0, -1)),
      Buffer.from(',"x":"\xff"}', "latin1"),
    ]);
    expect(await checked(await sign(goodHeader, notUtf8.toString("base64url")))).toBe("SESSION_INVALID");
  });

  test("any critical header is refused, even one jose would understand", async () => {
    expect(await checked(await signRaw({ ...header, crit: ["b64"], b64: true }, claims))).toBe("SESSION_INVALID");
    expect(await checked(await signRaw({ ...header, crit: [] }, claims))).toBe("SESSION_INVALID");
  });

  test("the claim rules alone: presence, issuer, then nbf, exp and age against the given second", () => {
    const issuer = String(claims.iss);
    const iat = Number(claims.iat);
    expect(refusedClaims(claims, issuer, iat)).toBeNull();
    expect(refusedClaims(claims, "https://other.example", iat)?.code).toBe("SESSION_INVALID");
    expect(refusedClaims(claims, issuer, Number(claims.exp))?.code).toBe("SESSION_EXPIRED");
    expect(refusedClaims(claims, issuer, iat - 1)?.code).toBe("SESSION_INVALID");
    expect(refusedClaims(without("jti"), issuer, iat)?.code).toBe("SESSION_INVALID");
  });
});
