/**
 * Real nginx (Debian's nginx-light, with auth_request) in front of a stub API, with latchkey as the auth service,
 * running the configuration shipped in docs/proxies/ with only its ports changed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseTrustedProxies } from "../../src/http/client-ip.ts";
import { makeTempDir } from "../support/binary.ts";
import { createKey } from "../support/keys.ts";
import { freePort } from "../support/ports.ts";
import { createWorld, type World } from "../support/world.ts";

const NGINX = Bun.which("nginx") ?? (Bun.file("/usr/sbin/nginx").size > 0 ? "/usr/sbin/nginx" : null);
const DOCS = join(import.meta.dir, "../../docs/proxies");

// CI installs nginx (.ci/run); a machine without it says so instead of passing silently.
describe.skipIf(NGINX === null)("nginx auth_request with the shipped configuration", () => {
  let world: World;
  let api: ReturnType<typeof Bun.serve>;
  let nginx: Bun.Subprocess;
  let folder: ReturnType<typeof makeTempDir>;
  let base: string;
  const seenByApi: Headers[] = [];

  beforeAll(async () => {
    world = await createWorld({
      transport: "http",
      settings: { trustedProxies: (parseTrustedProxies("127.0.0.1") as { ok: true; proxies: never }).proxies },
    });
    const latchkeyPort = new URL(world.baseUrl).port;
    api = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch(request) {
        seenByApi.push(request.headers);
        return Response.json({ reached: "api", path: new URL(request.url).pathname });
      },
    });
    const nginxPort = await freePort();
    folder = makeTempDir("nginx");
    const shipped = readFileSync(join(DOCS, "nginx.conf"), "utf8")
      .replace("server 127.0.0.1:8787;", `server 127.0.0.1:${latchkeyPort};`)
      .replace("server 127.0.0.1:3000;", `server 127.0.0.1:${api.port};`)
      .replace("listen 8080;", `listen 127.0.0.1:${nginxPort};`);
    writeFileSync(join(folder.path, "latchkey.conf"), shipped);
    copyFileSync(join(DOCS, "latchkey-auth-request.conf"), join(folder.path, "latchkey-auth-request.conf"));
    writeFileSync(
      join(folder.path, "nginx.conf"),
      `daemon off;
pid ${folder.path}/nginx.pid;
error_log ${folder.path}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${folder.path}/body;
  proxy_temp_path ${folder.path}/proxy;
  include latchkey.conf;
}
`,
    );
    nginx = Bun.spawn([NGINX!, "-p", folder.path, "-c", join(folder.path, "nginx.conf")], {
      stderr: "pipe",
      stdout: "ignore",
    });
    base = `http://127.0.0.1:${nginxPort}`;
    for (let attempt = 0; ; attempt++) {
      try {
        await fetch(base);
        break;
      } catch {
        if (attempt > 200 || nginx.exitCode !== null)
          throw new Error(`nginx did not start: ${await new Response(nginx.stderr as ReadableStream).text()}`);
        await Bun.sleep(25);
      }
    }
  }, 30_000);

  afterAll(async () => {
    nginx?.kill();
    await nginx?.exited;
    api?.stop(true);
    await world?.close();
    folder?.remove();
  });

  test("an allowed request reaches the API with the identity; the client gets the rate-limit fields", async () => {
    const key = await createKey(world, { scopes: ["runs:read"], owner: "user_3" });
    seenByApi.length = 0;
    const response = await fetch(`${base}/runs`, {
      headers: { authorization: `Bearer ${key.secret}`, "x-latchkey-key-id": "key_spoofed" },
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ reached: "api", path: "/runs" });
    expect(response.headers.get("x-ratelimit-limit")).toBe("1000");
    expect(response.headers.get("x-ratelimit-remaining")).toBe("999");
    expect(response.headers.get("ratelimit-policy")).toBe('"key";q=1000;w=60');
    const upstream = seenByApi[0]!;
    expect(upstream.get("x-latchkey-key-id")).toBe(key.id);
    expect(upstream.get("x-latchkey-project-id")).toBe(world.defaultProjectId);
    expect(upstream.get("x-latchkey-subject")).toBe(key.id);
    expect(upstream.get("x-latchkey-scopes")).toBe("runs:read");
  });

  test("refusals reach the client with latchkey's status, code and challenge, and never the API", async () => {
    seenByApi.length = 0;
    const missing = await fetch(`${base}/runs`);
    expect(missing.status).toBe(401);
    expect(missing.headers.get("www-authenticate")).toBe('Bearer realm="latchkey"');
    expect(((await missing.json()) as any).error.code).toBe("API_KEY_REQUIRED");
    const invalid = await fetch(`${base}/runs`, { headers: { authorization: "Bearer sk_live_nope" } });
    expect(invalid.status).toBe(401);
    expect(((await invalid.json()) as any).error.code).toBe("API_KEY_INVALID");
    const reader = await createKey(world, { scopes: ["runs:read"] });
    const admin = await fetch(`${base}/admin/users`, { headers: { authorization: `Bearer ${reader.secret}` } });
    expect(admin.status).toBe(403);
    const body = (await admin.json()) as any;
    expect(body.error.code).toBe("SCOPE_NOT_GRANTED");
    expect(body.error.request_id).toBe(admin.headers.get("x-request-id")!);
    expect(seenByApi.length).toBe(0);
  });

  test("rate limiting reaches the client as 429 with Retry-After, and the retry after it succeeds", async () => {
    const key = await createKey(world, { scopes: ["runs:read"] });
    await world.call("PATCH", `/v1/keys/${key.id}`, {
      key: world.rootKey,
      body: { ratelimit: { limit: 2, window_seconds: 20 } },
    });
    const call = () => fetch(`${base}/runs`, { headers: { authorization: `Bearer ${key.secret}` } });
    expect((await call()).status).toBe(200);
    expect((await call()).status).toBe(200);
    const limited = await call();
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("10");
    expect(limited.headers.get("x-ratelimit-remaining")).toBe("0");
    expect(((await limited.json()) as any).error.code).toBe("RATE_LIMITED");
    world.clock.advanceSeconds(10);
    expect((await call()).status).toBe(200);
  });

  test("regression: a client's own X-Forwarded-Method cannot turn a browser's write into a read", async () => {
    await world.call("PATCH", `/v1/projects/${world.defaultProjectId}`, {
      key: world.rootKey,
      body: { allowed_origins: ["https://app.acme.test"] },
    });
    const key = await createKey(world, { scopes: ["runs:read", "runs:write"] });
    seenByApi.length = 0;
    const spoofs: Record<string, string>[] = [
      { "x-forwarded-method": "GET" },
      { "x-original-method": "GET" },
      { "x-forwarded-method": "GET", "x-original-method": "GET" },
    ];
    for (const spoof of spoofs) {
      const response = await fetch(`${base}/hello`, {
        method: "DELETE",
        headers: { authorization: `Bearer ${key.secret}`, origin: "https://app.acme.test", ...spoof },
      });
      expect(response.status).toBe(401);
      expect(((await response.json()) as any).error.code).toBe("SESSION_REQUIRED");
    }
    expect(seenByApi.length).toBe(0);
    const read = await fetch(`${base}/hello`, {
      headers: { authorization: `Bearer ${key.secret}`, origin: "https://app.acme.test" },
    });
    expect(read.status).toBe(200);
  });

  test("regression: an end user's id outside Latin-1 reaches the API percent-encoded (was a 502)", async () => {
    const key = await createKey(world, { scopes: ["runs:read"] });
    const minted = await world.call("POST", "/v1/sessions", { key: key.secret, body: { user_id: "日本 zoë" } });
    seenByApi.length = 0;
    const response = await fetch(`${base}/runs`, { headers: { "x-session-token": minted.body.token } });
    expect(response.status).toBe(200);
    expect(decodeURIComponent(seenByApi[0]!.get("x-latchkey-subject")!)).toBe("日本 zoë");
  });

  test("regression: the root key is refused at the proxy with its own code", async () => {
    const response = await fetch(`${base}/runs`, { headers: { authorization: `Bearer ${world.rootKey}` } });
    expect(response.status).toBe(403);
    expect(((await response.json()) as any).error.code).toBe("ROOT_KEY_NOT_ALLOWED");
  });

  test("failed authentications count against the client nginx forwards for, not against nginx", async () => {
    const key = await createKey(world, { scopes: ["runs:read"] });
    for (let attempt = 0; attempt < 60; attempt++) {
      await fetch(`${base}/runs`, {
        headers: { authorization: "Bearer sk_live_nope", "x-forwarded-for": "198.51.100.7" },
      });
    }
    const blocked = await fetch(`${base}/runs`, {
      headers: { authorization: `Bearer ${key.secret}`, "x-forwarded-for": "198.51.100.7" },
    });
    expect(blocked.status).toBe(429);
    const elsewhere = await fetch(`${base}/runs`, {
      headers: { authorization: `Bearer ${key.secret}`, "x-forwarded-for": "198.51.100.8" },
    });
    expect(elsewhere.status).toBe(200);
  });
});
