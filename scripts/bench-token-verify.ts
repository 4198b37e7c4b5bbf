/**
 * What a session token's first check costs, alone: the whole check (checkSessionToken: decoding, header and claim
 * rules, the claim schema, the signature) beside jose's jwtVerify with the same pins and the bare Ed25519 primitives
 * (WebCrypto, node:crypto), on the same key and token, in one run.
 *
 *   bun scripts/bench-token-verify.ts [--iterations 20000] [--rounds 5]
 *
 * Each row is the median over --rounds of the mean µs per call over --iterations calls, after a discarded warm-up
 * round; the rounds of all rows alternate, so a noisy machine moves them together.
 */
import { createPublicKey, verify as nodeVerify } from "node:crypto";
import { parseArgs } from "node:util";
import { importJWK, jwtVerify } from "jose";
import { MAX_TOKEN_LIFETIME_SECONDS } from "../src/domain/sessions/signing-keys.ts";
import { checkSessionToken, SESSION_TOKEN_TYPE } from "../src/domain/sessions/tokens.ts";
import { AppError } from "../src/lib/errors.ts";
import { createKey, mintSession } from "../test/support/keys.ts";
import { createWorld } from "../test/support/world.ts";
import { positiveNumberFlag } from "./lib/args.ts";

const { values: options } = parseArgs({
  options: { iterations: { type: "string", default: "20000" }, rounds: { type: "string", default: "5" } },
});
const iterations = positiveNumberFlag("iterations", options.iterations);
const rounds = positiveNumberFlag("rounds", options.rounds);

const world = await createWorld();
const key = await createKey(world, { scopes: ["keys:read"] });
const token = await mintSession(world, key.secret, { scopes: ["keys:read"] });
const now = world.clock.nowMilliseconds();
const { ring } = world.deps.sessions;
const issuer = world.deps.settings.publicUrl;
const [encodedHeader, encodedPayload, encodedSignature] = token.split(".") as [string, string, string];
const kid = JSON.parse(Buffer.from(encodedHeader, "base64url").toString()).kid as string;
const audience = JSON.parse(Buffer.from(encodedPayload, "base64url").toString()).aud as string;
const publicJwk = (await ring.jwks(now)).find((jwk) => jwk.kid === kid)!;
const cryptoKey = (await importJWK(publicJwk, "EdDSA")) as CryptoKey;
const keyObject = createPublicKey({ key: publicJwk, format: "jwk" });
const signingInput = new TextEncoder().encode(`${encodedHeader}.${encodedPayload}`);
const signature = Buffer.from(encodedSignature, "base64url");

const rows: Record<string, () => Promise<unknown> | unknown> = {
  "checkSessionToken (the whole check)": async () => {
    if ((await checkSessionToken(ring, issuer, token, now)) instanceof AppError) throw new Error("the token must pass");
  },
  "jose jwtVerify, pinned as latchkey pinned it": () =>
    jwtVerify(token, cryptoKey, {
      algorithms: ["EdDSA"],
      issuer,
      audience,
      typ: SESSION_TOKEN_TYPE,
      maxTokenAge: MAX_TOKEN_LIFETIME_SECONDS,
      currentDate: new Date(now),
      requiredClaims: ["sub", "jti", "exp", "iat", "key", "kv", "scp"],
    }),
  "crypto.subtle.verify Ed25519": () => crypto.subtle.verify("Ed25519", cryptoKey, signature, signingInput),
  "node:crypto.verify Ed25519 (KeyObject)": () => nodeVerify(null, signingInput, keyObject, signature),
};

const samples = new Map<string, number[]>(Object.keys(rows).map((name) => [name, []]));
for (let round = 0; round <= rounds; round++) {
  for (const [name, run] of Object.entries(rows)) {
    const startedAt = performance.now();
    for (let index = 0; index < iterations; index++) await run();
    const microseconds = ((performance.now() - startedAt) * 1000) / iterations;
    if (round > 0) samples.get(name)!.push(microseconds);
  }
}
await world.close();

console.log(`${iterations} calls × ${rounds} rounds, µs per call: median (min–max)`);
for (const [name, values] of samples) {
  const sorted = values.toSorted((a, b) => a - b).map((value) => value.toFixed(1));
  const median = sorted[Math.floor(sorted.length / 2)]!;
  console.log(`${name.padEnd(46)} ${median.padStart(7)}  (${sorted[0]}–${sorted.at(-1)})`);
}
