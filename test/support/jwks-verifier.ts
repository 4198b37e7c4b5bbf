/**
 * A host API's offline verifier, as its authors would write it with nothing but jose and the JWKS URL. It reads
 * tokens from stdin, one per line, and prints one JSON line per token: {"ok":true,"sub","kid"} or {"ok":false,"code"}.
 *
 *   bun jwks-verifier.ts <jwks-url> <issuer> <audience> <cooldown-milliseconds>
 */
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from "jose";

const [jwksUrl, issuer, audience, cooldown] = process.argv.slice(2);
const jwks = createRemoteJWKSet(new URL(jwksUrl!), { cooldownDuration: Number(cooldown) });

for await (const line of console) {
  const token = line.trim();
  if (token === "") continue;
  try {
    const { payload } = await jwtVerify(token, jwks, {
      algorithms: ["EdDSA"],
      issuer: issuer!,
      audience: audience!,
      typ: "lk-session+jwt",
      maxTokenAge: "1d",
    });
    console.log(JSON.stringify({ ok: true, sub: payload.sub, kid: decodeProtectedHeader(token).kid }));
  } catch (error) {
    console.log(JSON.stringify({ ok: false, code: (error as { code?: string }).code ?? "unknown" }));
  }
}
