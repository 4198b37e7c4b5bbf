/**
 * Real Caddy (Debian's caddy 2.6, forward_auth) in front of a stub API, with latchkey as the auth service, running
 * the Caddyfile shipped in docs/proxies/ with only its ports changed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseTrustedProxies } from "../../src/http/client-ip.ts";
import { makeTempDir } from "../support/binary.ts";
import { createKey } from "../support/keys.ts";
import { freePort } from "../support/ports.ts";
import { createWorld, type World } from "../support/world.ts";

const CADDY = Bun.which("caddy");
const DOCS = join(import.meta.dir, "../../docs/proxies");

// CI installs caddy (.ci/run); a machine without it says so instead of passing silently.
describe.skipIf(CADDY === null)("Caddy forward_auth with the shipped Caddyfile", () => {
  let world: World;
  let api: ReturnType<typeof Bun.serve>;
  let caddy: Bun.Subprocess;
  let folder: ReturnType<typeof makeTempDir>;
  let base: string;
  const seenByApi: Headers[] = [];

  beforeAll(async () => {
    world = await createWorld({
      transport: "http",
      settings: { trustedProxies: (parseTrustedProxies("127.0.0.1") as { ok: true; proxies: never }).proxies },
    });
    await world.call("PATCH", `/v1/projects/${world.defaultProjectId}`, {
      key: world.rootKey,
      body: { allowed_origins: ["https://app.acme.test"] },
    });
    api = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch(request) {
        seenByApi.push(request.headers);
        return Response.json({ reached: "api", path: new URL(request.url).pathname });
      },
    });
    const caddyPort = await freePort();
    folder = makeTempDir("caddy");
    const shipped = readFileSync(join(DOCS, "Caddyfile"), "utf8")
      .replace("forward_auth 127.0.0.1:8787", `forward_auth 127.0.0.1:${new URL(world.baseUrl).port}`)
      .replace("reverse_proxy 127.0.0.1:3000", `reverse_proxy 127.0.0.1:${api.port}`)
      .replace(":8080 {", `http://127.0.0.1:${caddyPort} {`);
    writeFileSync(join(folder.path, "Caddyfile"), shipped);
    caddy = Bun.spawn([CADDY!, "run", "--config", join(folder.path, "Caddyfile"), "--adapter", "caddyfile"], {
      env: {
        PATH: process.env.PATH ?? "",
        HOME: folder.path,
        XDG_DATA_HOME: folder.path,
        XDG_CONFIG_HOME: folder.path,
      },
      stdout: "ignore",
      stderr: "pipe",
    });
    base = `http://127.0.0.1:${caddyPort}`;
    for (let attempt = 0; ; attempt++) {
      try {
        await fetch(base);
        break;
      } catch {
        if (attempt > 400 || caddy.exitCode !== null)
          throw new Error(`caddy did not start: ${await new Response(caddy.stderr as ReadableStream).text()}`);
        await Bun.sleep(25);
      }
    }
  }, 30_000);

  afterAll(async () => {
    caddy?.kill();
    await caddy?.exited;
    api?.stop(true);
    await world?.close();
    folder?.remove();
  });

  test("an allowed request reaches the API with latchkey's identity, replacing a client's copy", async () => {
    const key = await createKey(world, { scopes: ["runs:read"] });
    seenByApi.length = 0;
    const response = await fetch(`${base}/runs`, {
      headers: {
        authorization: `Bearer ${key.secret}`,
        "x-latchkey-key-id": "key_spoofed",
        "x-latchkey-subject": "admin",
      },
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ reached: "api", path: "/runs" });
    const upstream = seenByApi[0]!;
    expect(upstream.get("x-latchkey-key-id")).toBe(key.id);
    expect(upstream.get("x-latchkey-subject")).toBe(key.id);
    expect(upstream.get("x-latchkey-scopes")).toBe("runs:read");
  });

  test("refusals reach the client with latchkey's status, body and headers, and never the API", async () => {
    seenByApi.length = 0;
    const missing = await fetch(`${base}/runs`);
    expect(missing.status).toBe(401);
    expect(missing.headers.get("www-authenticate")).toBe('Bearer realm="latchkey"');
    expect(((await missing.json()) as any).error.code).toBe("API_KEY_REQUIRED");
    const writer = await createKey(world, { scopes: ["runs:write"] });
    const scopeless = await fetch(`${base}/runs`, { headers: { authorization: `Bearer ${writer.secret}` } });
    expect(scopeless.status).toBe(403);
    expect(((await scopeless.json()) as any).error.code).toBe("SCOPE_NOT_GRANTED");
    const key = await createKey(world, { scopes: ["runs:read"] });
    await world.call("PATCH", `/v1/keys/${key.id}`, {
      key: world.rootKey,
      body: { ratelimit: { limit: 1, window_seconds: 30 } },
    });
    expect((await fetch(`${base}/runs`, { headers: { authorization: `Bearer ${key.secret}` } })).status).toBe(200);
    const limited = await fetch(`${base}/runs`, { headers: { authorization: `Bearer ${key.secret}` } });
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("30");
    expect(((await limited.json()) as any).error.code).toBe("RATE_LIMITED");
    expect(seenByApi.length).toBe(1);
  });

  test("regression: a client's own method headers cannot turn a browser's write into a read", async () => {
    const key = await createKey(world, { scopes: ["runs:read"] });
    seenByApi.length = 0;
    const spoofs: Record<string, string>[] = [
      { "x-forwarded-method": "GET" },
      { "x-original-method": "GET" },
      { "x-forwarded-method": "GET", "x-original-method": "GET" },
    ];
    for (const spoof of spoofs) {
      const response = await fetch(`${base}/runs`, {
        method: "DELETE",
        headers: { authorization: `Bearer ${key.secret}`, origin: "https://app.acme.test", ...spoof },
      });
      expect(response.status).toBe(401);
      expect(((await response.json()) as any).error.code).toBe("SESSION_REQUIRED");
    }
    expect(seenByApi.length).toBe(0);
    const read = await fetch(`${base}/runs`, {
      headers: { authorization: `Bearer ${key.secret}`, origin: "https://app.acme.test" },
    });
    expect(read.status).toBe(200);
  });

  test("failed authentications count against the client, not against Caddy", async () => {
    const key = await createKey(world, { scopes: ["runs:read"] });
    for (let attempt = 0; attempt < 60; attempt++) {
      await fetch(`${base}/runs`, { headers: { authorization: "Bearer sk_live_nope" } });
    }
    // Caddy names the client (127.0.0.1 here) in X-Forwarded-For, overwriting what a client claims.
    const spoofed = await fetch(`${base}/runs`, {
      headers: { authorization: `Bearer ${key.secret}`, "x-forwarded-for": "198.51.100.9" },
    });
    expect(spoofed.status).toBe(429);
  });
});
