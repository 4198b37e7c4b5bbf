/**
 * Offline token verification (pinned checks, the JWKS fetched once and again at most once a minute), the CLI login
 * end to end with the approval made over the API, the key file, withLatchkey on Bun.serve, and the package's own
 * rules: generated types current, no Node built-in in the core.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { SignJWT } from "jose";
import { makeTempDir } from "../../test/support/binary.ts";
import { GENERATED_FILE, generatedTypes, serverDocument } from "../scripts/generate.ts";
import { cliLogin, createTokenVerifier, Latchkey } from "../src/index.ts";
import { readKeyFile, saveKeyFile } from "../src/node.ts";
import { useLatchkeyd } from "./support/latchkeyd.ts";
import { approveLogin, checkScenarios, fixtures, forged, startApp } from "./support/scenarios.ts";

const latchkeyd = useLatchkeyd("sdk-tokens");
const workspace = makeTempDir("sdk-files");
afterAll(() => workspace.remove());

async function tokenFor(userId: string, keyExtra: Record<string, unknown> = {}) {
  const admin = new Latchkey({ baseUrl: latchkeyd.server.url, key: latchkeyd.server.rootKey });
  const key = await admin.keys.create({ name: "tokens", scopes: ["runs:read"], ...keyExtra });
  const user = new Latchkey({ baseUrl: latchkeyd.server.url, key: key.secret });
  return { key, admin, token: (await user.sessions.create({ user_id: userId })).token };
}

/** The JWKS through a counter, to see how often the verifier fetches it. */
function countingJwks(target: string) {
  let fetches = 0;
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: () => {
      fetches++;
      return fetch(`${target}/.well-known/jwks.json`);
    },
  });
  return { url: `http://127.0.0.1:${server.port}/jwks.json`, fetches: () => fetches, stop: () => server.stop(true) };
}

describe("offline token verification", () => {
  test("a genuine token's claims; forged, foreign and tampered tokens are SESSION_INVALID", async () => {
    const { token, key } = await tokenFor("zoë");
    const verifier = createTokenVerifier({ baseUrl: latchkeyd.server.url, audience: latchkeyd.server.projectId });
    expect(await verifier.verify(token)).toMatchObject({
      sub: "zoë",
      key: key.id,
      aud: latchkeyd.server.projectId,
      scp: ["runs:read"],
      iss: latchkeyd.server.publicUrl,
    });
    const refusal = (candidate: string, options = verifier) =>
      options.verify(candidate).then(
        () => "accepted",
        (error: any) => `${error.code} ${error.status}`,
      );
    expect(await refusal(await forged(token))).toBe("SESSION_INVALID 401");
    const [header, payload, signature] = token.split(".");
    const claims = JSON.parse(Buffer.from(payload!, "base64url").toString());
    const widened = Buffer.from(JSON.stringify({ ...claims, scp: ["runs:read", "admin"] })).toString("base64url");
    expect(await refusal(`${header}.${widened}.${signature}`)).toBe("SESSION_INVALID 401");
    const none = Buffer.from(JSON.stringify({ alg: "none", typ: "lk-session+jwt" })).toString("base64url");
    expect(await refusal(`${none}.${payload}.`)).toBe("SESSION_INVALID 401");
    const hs256 = await new SignJWT(claims)
      .setProtectedHeader({ alg: "HS256", typ: "lk-session+jwt" })
      .sign(new TextEncoder().encode("a".repeat(32)));
    expect(await refusal(hs256)).toBe("SESSION_INVALID 401");
    const otherProject = createTokenVerifier({ baseUrl: latchkeyd.server.url, audience: "prj_someoneelse" });
    expect(await refusal(token, otherProject)).toBe("SESSION_INVALID 401");
    const otherIssuer = createTokenVerifier({
      baseUrl: latchkeyd.server.url,
      issuer: "https://auth.example.com",
      audience: latchkeyd.server.projectId,
    });
    expect(await refusal(token, otherIssuer)).toBe("SESSION_INVALID 401");
    expect(await refusal("not a token")).toBe("SESSION_INVALID 401");
  });

  test("regression: latchkey at its default public URL, reached at 127.0.0.1: genuine tokens verify", async () => {
    // The issuer (http://localhost:<port>) is not the address given (http://127.0.0.1:<port>): it is discovered.
    expect(latchkeyd.server.publicUrl).not.toBe(latchkeyd.server.url);
    const { token } = await tokenFor("sidecar user");
    const verifier = createTokenVerifier({ baseUrl: latchkeyd.server.url, audience: latchkeyd.server.projectId });
    expect(await verifier.verify(token)).toMatchObject({ sub: "sidecar user", iss: latchkeyd.server.publicUrl });
    const discovery = await fetch(`${latchkeyd.server.url}/.well-known/openid-configuration`).then((answer) =>
      answer.json(),
    );
    expect(discovery).toMatchObject({
      issuer: latchkeyd.server.publicUrl,
      jwks_uri: `${latchkeyd.server.publicUrl}/.well-known/jwks.json`,
    });
  });

  test("regression: a refusal keeps jose's reason as its cause, and an answer never shows it", async () => {
    const { token } = await tokenFor("elsewhere");
    const wrongIssuer = createTokenVerifier({
      baseUrl: latchkeyd.server.url,
      issuer: "https://auth.example.com",
      audience: latchkeyd.server.projectId,
    });
    const refusal = await wrongIssuer.verify(token).catch((error: any) => error);
    expect(refusal).toMatchObject({ code: "SESSION_INVALID", message: "The session token is not valid." });
    expect(refusal.cause).toMatchObject({ code: "ERR_JWT_CLAIM_VALIDATION_FAILED", claim: "iss" });
    expect(JSON.stringify(refusal.toBody())).not.toContain("ERR_JWT");
    const forgery = await createTokenVerifier({ baseUrl: latchkeyd.server.url, audience: latchkeyd.server.projectId })
      .verify(await forged(token))
      .catch((error: any) => error);
    expect(forgery.cause.code).toBe("ERR_JWS_SIGNATURE_VERIFICATION_FAILED");
  });

  test("the issuer is discovered once and kept; a failed discovery is UNAVAILABLE and tried again", async () => {
    let discoveries = 0;
    let failNext = true;
    const proxy = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: (request) => {
        const { pathname } = new URL(request.url);
        if (pathname === "/.well-known/openid-configuration") {
          discoveries++;
          if (failNext) {
            failNext = false;
            return new Response("down", { status: 502 });
          }
        }
        return fetch(`${latchkeyd.server.url}${pathname}`);
      },
    });
    try {
      const verifier = createTokenVerifier({
        baseUrl: `http://127.0.0.1:${proxy.port}`,
        audience: latchkeyd.server.projectId,
      });
      const { token } = await tokenFor("discovered");
      const unavailable = await verifier.verify(token).catch((error: any) => error);
      expect(unavailable).toMatchObject({ code: "UNAVAILABLE", status: 503 });
      expect(unavailable.cause.message).toBe("HTTP 502");
      const answers = await Promise.all(Array.from({ length: 20 }, () => verifier.verify(token)));
      expect(answers.every((claims) => claims.sub === "discovered")).toBe(true);
      expect(discoveries).toBe(2);
    } finally {
      proxy.stop(true);
    }
  });

  test("a token past its exp (its key expired) is SESSION_EXPIRED", async () => {
    const { token } = await tokenFor("late", { expires_at: new Date(Date.now() + 1_500).toISOString() });
    const verifier = createTokenVerifier({ baseUrl: latchkeyd.server.url, audience: latchkeyd.server.projectId });
    expect((await verifier.verify(token)).sub).toBe("late");
    await Bun.sleep(2_100);
    expect(await verifier.verify(token).catch((error: any) => error.code)).toBe("SESSION_EXPIRED");
  });

  test("the JWKS is fetched once, then for an unknown kid once per cooldown: a rotation is learnt", async () => {
    const jwks = countingJwks(latchkeyd.server.url);
    try {
      // The cooldown is a minute by default; a second here, to see it pass.
      const verifier = createTokenVerifier({
        jwksUrl: jwks.url,
        issuer: latchkeyd.server.publicUrl,
        audience: latchkeyd.server.projectId,
        jwksCooldownMs: 1_000,
      });
      const { token, admin } = await tokenFor("cached");
      for (let index = 0; index < 20; index++) await verifier.verify(token);
      expect(jwks.fetches()).toBe(1);
      // A rotation signs with a key the verifier has not seen yet (latchkey normally publishes keys a minute ahead,
      // activate_in_seconds; here at once). Within the cooldown it is refused without a fetch…
      await admin.signingKeys.rotate({ activate_in_seconds: 0 });
      const { token: rotated } = await tokenFor("rotated");
      const unknownKid = await forgedWithKid(token, "sig_0356P8eRUI9LgqPR3Hm8yZ");
      for (let index = 0; index < 20; index++) await verifier.verify(unknownKid).catch(() => {});
      expect(await verifier.verify(rotated).catch((error: any) => error.code)).toBe("SESSION_INVALID");
      expect(jwks.fetches()).toBe(1);
      // …and once it has passed, one fetch learns the new key, however many tokens ask.
      await Bun.sleep(1_100);
      const answers = await Promise.all(Array.from({ length: 20 }, () => verifier.verify(rotated)));
      expect(answers.every((claims) => claims.sub === "rotated")).toBe(true);
      for (let index = 0; index < 20; index++) await verifier.verify(unknownKid).catch(() => {});
      expect(jwks.fetches()).toBe(2);
    } finally {
      jwks.stop();
    }
  });
});

async function forgedWithKid(token: string, kid: string): Promise<string> {
  const [header, ...rest] = token.split(".");
  const decoded = JSON.parse(Buffer.from(header!, "base64url").toString());
  return [Buffer.from(JSON.stringify({ ...decoded, kid })).toString("base64url"), ...rest].join(".");
}

describe("cliLogin", () => {
  test("runs the login end to end: code shown, approved over the API, key saved 0600, then acknowledged", async () => {
    const admin = new Latchkey({ baseUrl: latchkeyd.server.url, key: latchkeyd.server.rootKey });
    const approver = await admin.keys.create({ name: "host app", scopes: ["cli:approve", "runs:read"] });
    const path = join(workspace.path, "config", "tool", "credentials");
    let shown: { verificationUrl: string; userCode: string } | undefined;
    const login = cliLogin({
      baseUrl: latchkeyd.server.url,
      deviceName: "build-box",
      scopes: ["runs:read"],
      onCode: async (code) => {
        shown = code;
        await approveLogin(latchkeyd.server, approver.secret, code.userCode, "user_cli");
      },
      save: (apiKey) => saveKeyFile(path, apiKey),
    });
    const { apiKey } = await login;
    expect(shown?.verificationUrl).toContain(shown!.userCode);
    expect(await readKeyFile(path)).toBe(apiKey);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const verified = await admin.verify({ key: apiKey, scopes: ["runs:read"] });
    expect(verified).toMatchObject({ valid: true, owner: "user_cli" });
    expect(await readKeyFile(join(workspace.path, "absent"))).toBeNull();
    // Acknowledged: latchkey recorded the delivery and wiped its copy.
    const delivered = await admin.audit.list({ action: "cli_session.delivered" });
    expect(delivered.data.length).toBe(1);
  }, 30_000);
});

describe("withLatchkey on Bun.serve, from the sources", () => {
  test("every middleware scenario holds", async () => {
    // The app imports the package by name; here tsconfig's paths resolve it to these sources.
    const app = await startApp([process.execPath, join(import.meta.dir, "apps", "serve.ts")], latchkeyd.server);
    try {
      await checkScenarios(app.url, latchkeyd.server, await fixtures(latchkeyd.server));
    } finally {
      app.stop();
    }
  }, 30_000);
});

describe("the package", () => {
  test("src/generated/api.ts is what the server's document generates (else: bun run generate)", async () => {
    expect(await Bun.file(GENERATED_FILE).text()).toBe(await generatedTypes(serverDocument()));
  }, 30_000);

  test("the core uses no Node built-in: it runs wherever fetch does", async () => {
    const core = readdirSync(join(import.meta.dir, "..", "src")).filter((file) => file.endsWith(".ts"));
    for (const file of core.filter((name) => name !== "node.ts")) {
      const text = await Bun.file(join(import.meta.dir, "..", "src", file)).text();
      expect(`${file}: ${/from "(node:[^"]+|fs|path|crypto|os|http)"/.exec(text)?.[1] ?? "none"}`).toBe(
        `${file}: none`,
      );
    }
  });
});
