/**
 * The typed client against a real latchkey over HTTP: resources, errors as LatchkeyError, verify never throwing for a
 * refusal, retries bounded and honouring Retry-After, a deadline on every call, nothing logged.
 */
import { afterEach, describe, expect, spyOn, test } from "bun:test";
import { join } from "node:path";
import { newId } from "../../src/lib/ids.ts";
import { freePort } from "../../test/support/ports.ts";
import { serverDocument } from "../scripts/generate.ts";
import { Latchkey, LatchkeyError } from "../src/index.ts";
import { SDK_VERSION } from "../src/version.ts";
import { useLatchkeyd } from "./support/latchkeyd.ts";

const latchkeyd = useLatchkeyd("sdk-client");

/** A stand-in latchkey answering from a script, to see what the client does with 503s, slowness and so on. */
function scripted(answer: (request: Request, count: number) => Response | Promise<Response>) {
  let count = 0;
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (request) => answer(request, ++count) });
  return { url: `http://127.0.0.1:${server.port}`, calls: () => count, stop: () => server.stop(true) };
}
const stops: (() => void)[] = [];
afterEach(() => {
  for (const stop of stops.splice(0)) stop();
});

describe("the client", () => {
  test("keys: create, get, list as a page and page by page, update, rotate, revoke", async () => {
    const client = new Latchkey({ baseUrl: latchkeyd.server.url, key: latchkeyd.server.rootKey });
    const created = await client.keys.create({ name: "first", scopes: ["runs:read"], owner: "user_9" });
    expect(created.secret).toMatch(/^sk_live_/);
    expect((await client.keys.get(created.id)).name).toBe("first");
    for (let index = 0; index < 4; index++) await client.keys.create({ name: `more ${index}`, scopes: ["runs:read"] });
    const first = await client.keys.list({ limit: 2 });
    expect(first.data).toHaveLength(2);
    expect(first.next_cursor).toEqual(expect.any(String));
    const pages = [];
    for await (const page of client.keys.list({ limit: 2 })) pages.push(page);
    const ids = pages.flatMap((page) => page.data.map((key) => key.id));
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toContain(created.id);
    const items = [];
    for await (const key of client.keys.list({ limit: 2, owner: "user_9" }).items()) items.push(key.id);
    expect(items).toEqual([created.id]);
    expect((await client.keys.update(created.id, { name: "renamed" })).name).toBe("renamed");
    expect((await client.keys.whoami(created.secret)).id).toBe(created.id);
    await client.verify({ key: created.secret });
    const usage = await client.keys.usage(created.id, { granularity: "hour" });
    expect(usage.data.map((period) => period.outcomes.VALID)).toEqual([1]);
    const rotated = await client.keys.rotate(created.id);
    expect(rotated.secret).not.toBe(created.secret);
    expect(await client.keys.revoke(created.id)).toEqual({ id: created.id, object: "api_key", revoked: true });
    expect((await client.keys.get(created.id)).revoked_at).toEqual(expect.any(String));
  });

  test("tenants and projects: read, change what was read, delete (the project's keys revoked)", async () => {
    const client = new Latchkey({ baseUrl: latchkeyd.server.url, key: latchkeyd.server.rootKey });
    const tenant = await client.tenants.create({ name: "acme" });
    const project = await client.projects.create({ tenant_id: tenant.id, name: "api" });
    const read = await client.projects.get(project.id);
    const changed = await client.projects.update(project.id, {
      ...read,
      cli: { ...read.cli, session_ttl_seconds: 120 },
    });
    expect(changed.cli.session_ttl_seconds).toBe(120);
    const key = await client.keys.create({ name: "k", scopes: ["runs:read"], project_id: project.id });
    expect((await client.projects.delete(project.id)).deleted_at).toEqual(expect.any(String));
    expect((await client.verify({ key: key.secret })).code).toBe("API_KEY_REVOKED");
    expect((await client.tenants.delete(tenant.id)).deleted_at).toEqual(expect.any(String));
  });

  test("an API error throws LatchkeyError with code, status, message, request id and details", async () => {
    const client = new Latchkey({ baseUrl: latchkeyd.server.url, key: latchkeyd.server.rootKey });
    const invalid = await client.keys.create({ name: "", scopes: ["NOT A SCOPE"] }).catch((error: any) => error);
    expect(invalid).toBeInstanceOf(LatchkeyError);
    expect(invalid).toMatchObject({ code: "VALIDATION_FAILED", status: 400, name: "LatchkeyError" });
    expect(invalid.requestId).toMatch(/^req_/);
    expect(invalid.details.length).toBeGreaterThan(0);
    const missing = await client.keys.get(newId("apiKey", Date.now())).catch((error: any) => error);
    expect(missing).toMatchObject({ code: "NOT_FOUND", status: 404 });
    const stranger = new Latchkey({ baseUrl: latchkeyd.server.url, key: "sk_live_notakeyatall" });
    expect(await stranger.keys.list().then(null, (error: any) => error.code)).toBe("API_KEY_INVALID");
  });

  test("regression: a root client with a projectId still reaches tenants, projects, audit, signing keys", async () => {
    const { url, rootKey, projectId } = latchkeyd.server;
    const client = new Latchkey({ baseUrl: url, key: rootKey, projectId });
    const tenants = await client.tenants.list();
    expect(tenants.data.length).toBeGreaterThan(0);
    expect((await client.tenants.get(tenants.data[0]!.id)).object).toBe("tenant");
    expect((await client.projects.list()).data.map((project) => project.id)).toContain(projectId);
    expect((await client.projects.get(projectId)).id).toBe(projectId);
    expect((await client.projects.update(projectId, {})).id).toBe(projectId);
    expect((await client.audit.list({ limit: 1 })).object).toBe("list");
    expect((await client.signingKeys.list()).data.length).toBeGreaterThan(0);
    // Where the route is about one project, the project applies; per call it can be another, or "none".
    const tenant = await client.tenants.create({ name: "elsewhere" });
    const other = await client.projects.create({ tenant_id: tenant.id, name: "other" });
    const inOther = await client.keys.create({ name: "other's", scopes: ["runs:read"] }, { projectId: other.id });
    expect(inOther.project_id).toBe(other.id);
    const mine = await client.keys.create({ name: "mine", scopes: ["runs:read"] });
    expect(mine.project_id).toBe(projectId);
    expect((await client.keys.list({}, { projectId: other.id })).data.map((key) => key.id)).toEqual([inOther.id]);
    // Pinned to its project, the client does not see the other project's key; with "none", the root key's reach is
    // every project again.
    expect(await client.keys.get(inOther.id).catch((error: any) => error.code)).toBe("NOT_FOUND");
    expect((await client.keys.get(inOther.id, { projectId: "none" })).id).toBe(inOther.id);
  });

  test("X-Project-Id goes exactly to the operations whose document declares it", async () => {
    const document = JSON.parse(serverDocument());
    const seen: { operationId: string; projectHeader: string | null }[] = [];
    const operations = Object.entries<Record<string, any>>(document.paths).flatMap(([path, item]) =>
      Object.entries<any>(item).map(([method, operation]) => ({
        method: method.toUpperCase(),
        pattern: new RegExp(`^${path.replace(/\{[^}]+\}/g, "[^/]+")}$`),
        operationId: operation.operationId as string,
        takesProject: (operation.parameters ?? []).some((parameter: any) => parameter.name === "X-Project-Id"),
      })),
    );
    const recorder = scripted((request) => {
      const { pathname } = new URL(request.url);
      const operation = operations.find((one) => one.method === request.method && one.pattern.test(pathname));
      seen.push({
        operationId: operation?.operationId ?? `${request.method} ${pathname}`,
        projectHeader: request.headers.get("x-project-id"),
      });
      return Response.json({ object: "list", data: [], next_cursor: null });
    });
    stops.push(recorder.stop);
    const client = new Latchkey({ baseUrl: recorder.url, key: "lk_root_x", projectId: "prj_0356P8eRUI9LgqPR3Hm8yK" });
    const id = "key_0356P8eRUI9LgqPR3Hm8yK";
    await Promise.all([
      client.keys.create({ name: "n", scopes: ["runs:read"] }),
      client.keys.get(id),
      client.keys.list(),
      client.keys.update(id, { name: "m" }),
      client.keys.revoke(id),
      client.keys.rotate(id),
      client.sessions.create({ user_id: "u" }),
      client.verify({ key: "sk_live_x" }),
      client.tenants.create({ name: "t" }),
      client.tenants.get("ten_0356P8eRUI9LgqPR3Hm8yK"),
      client.tenants.list(),
      client.tenants.update("ten_0356P8eRUI9LgqPR3Hm8yK", { name: "u" }),
      client.projects.create({ tenant_id: "ten_0356P8eRUI9LgqPR3Hm8yK", name: "p" }),
      client.projects.get("prj_0356P8eRUI9LgqPR3Hm8yK"),
      client.projects.list(),
      client.projects.update("prj_0356P8eRUI9LgqPR3Hm8yK", {}),
      client.audit.list(),
      client.signingKeys.list(),
      client.signingKeys.rotate(),
    ]);
    expect(seen).toHaveLength(19);
    for (const { operationId, projectHeader } of seen) {
      const operation = operations.find((one) => one.operationId === operationId);
      expect({ operationId, sent: projectHeader !== null }).toEqual({ operationId, sent: operation!.takesProject });
    }
    expect(seen.filter((call) => call.projectHeader !== null)).toHaveLength(8);
  });

  test("verify answers a refusal as a value, and never throws for one", async () => {
    const client = new Latchkey({ baseUrl: latchkeyd.server.url, key: latchkeyd.server.rootKey });
    const key = await client.keys.create({ name: "checked", scopes: ["runs:read"] });
    expect(await client.verify({ key: key.secret, scopes: ["runs:read"] })).toMatchObject({
      valid: true,
      code: "VALID",
      key_id: key.id,
    });
    expect(await client.verify({ key: key.secret, scopes: ["runs:write"] })).toMatchObject({
      valid: false,
      code: "SCOPE_NOT_GRANTED",
    });
    await client.keys.revoke(key.id);
    expect((await client.verify({ key: key.secret })).code).toBe("API_KEY_REVOKED");
  });

  test("idempotent calls retry on 429 and 503 as Retry-After says, within a bound; writes never retry", async () => {
    const flaky = scripted((_, count) =>
      count === 1
        ? Response.json(
            { error: { code: "UNAVAILABLE", message: "x", details: [], request_id: "req_1" } },
            {
              status: 503,
              headers: { "retry-after": "1" },
            },
          )
        : Response.json({ object: "list", data: [], next_cursor: null }),
    );
    stops.push(flaky.stop);
    const client = new Latchkey({ baseUrl: flaky.url, key: "sk_live_x" });
    const started = performance.now();
    expect((await client.keys.list()).data).toEqual([]);
    expect(flaky.calls()).toBe(2);
    expect(performance.now() - started).toBeGreaterThanOrEqual(950);

    const busy = scripted(() =>
      Response.json(
        { error: { code: "RATE_LIMITED", message: "x", details: [], request_id: "req_2" } },
        {
          status: 429,
          headers: { "retry-after": "60" },
        },
      ),
    );
    stops.push(busy.stop);
    // A wait longer than maxRetryDelayMs is not waited for: the error says how long instead.
    const refused = await new Latchkey({ baseUrl: busy.url, key: "sk_live_x" }).keys
      .list()
      .catch((error: any) => error);
    expect(refused).toMatchObject({ code: "RATE_LIMITED", status: 429, retryAfterSeconds: 60 });
    expect(busy.calls()).toBe(1);
    const write = await new Latchkey({ baseUrl: busy.url, key: "sk_live_x", retries: 5 }).keys
      .create({ name: "x", scopes: [] })
      .catch((error: any) => error);
    expect(write.code).toBe("RATE_LIMITED");
    expect(busy.calls()).toBe(2);
  });

  test("every call has a deadline; a latchkey that is away or silent is UNAVAILABLE (503)", async () => {
    const silent = scripted(() => new Promise<Response>(() => {}));
    stops.push(silent.stop);
    const slow = await new Latchkey({ baseUrl: silent.url, key: "sk_live_x", timeoutMs: 200, retries: 0 }).keys
      .list()
      .catch((error: any) => error);
    expect(slow).toMatchObject({ code: "UNAVAILABLE", status: 503, requestId: null });
    expect(slow.message).toContain("200 ms");
    const away = await new Latchkey({ baseUrl: "http://127.0.0.1:9", key: "sk_live_x", retries: 1 }).keys
      .list()
      .catch((error: any) => error);
    expect(away).toMatchObject({ code: "UNAVAILABLE", status: 503 });
  });

  test("regression: an unreachable latchkey's 503 names the errno and the address, and keeps the error", async () => {
    const closed = await freePort();
    const away = await new Latchkey({ baseUrl: `http://127.0.0.1:${closed}`, key: "sk_live_x", retries: 0 }).keys
      .list()
      .catch((error: any) => error);
    expect(away.message).toBe(`latchkey could not be reached: ECONNREFUSED (127.0.0.1:${closed})`);
    expect(away.cause).toBeInstanceOf(Error);
    // Node's fetch, when every address of a host refused: "fetch failed", the codes one level down, in an
    // AggregateError that has none of its own.
    const refusals = ["::1", "127.0.0.1"].map((address) =>
      Object.assign(new Error(`connect ECONNREFUSED ${address}:8787`), { code: "ECONNREFUSED", errno: -111 }),
    );
    const nodeFetch = async () => {
      throw new TypeError("fetch failed", { cause: new AggregateError(refusals) });
    };
    const dualStack = await new Latchkey({
      baseUrl: "http://localhost:8787",
      key: "k",
      retries: 0,
      fetch: nodeFetch,
    }).keys
      .list()
      .catch((error: any) => error);
    expect(dualStack).toMatchObject({ code: "UNAVAILABLE", status: 503 });
    expect(dualStack.message).toBe("latchkey could not be reached: ECONNREFUSED (localhost:8787)");
    expect(dualStack.toBody().error.message).toBe(dualStack.message);
  });

  test("regression: every call names the SDK and its runtime in User-Agent", async () => {
    const agents: (string | null)[] = [];
    const recorder = scripted((request) => {
      agents.push(request.headers.get("user-agent"));
      return Response.json({ object: "list", data: [], next_cursor: null });
    });
    stops.push(recorder.stop);
    const client = new Latchkey({ baseUrl: recorder.url, key: "sk_live_x" });
    await client.keys.list();
    await client.verify({ key: "sk_live_x" });
    expect(agents).toEqual([
      `latchkey-sdk/${SDK_VERSION} (bun/${Bun.version})`,
      `latchkey-sdk/${SDK_VERSION} (bun/${Bun.version})`,
    ]);
    const manifest = JSON.parse(await Bun.file(join(import.meta.dir, "..", "package.json")).text());
    expect(SDK_VERSION).toBe(manifest.version);
  });

  test("nothing is logged, so a created key's secret never reaches a log", async () => {
    const spies = (["log", "info", "warn", "error", "debug"] as const).map((name) => spyOn(console, name));
    try {
      const client = new Latchkey({ baseUrl: latchkeyd.server.url, key: latchkeyd.server.rootKey });
      const key = await client.keys.create({ name: "quiet", scopes: ["runs:read"] });
      await client.keys.rotate(key.id);
      await client.keys.create({ name: "", scopes: [] }).catch(() => {});
      for (const spy of spies) expect(spy).not.toHaveBeenCalled();
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
  });

  test("bad options are refused at construction, and an id is only ever one path segment", async () => {
    expect(() => new Latchkey({ baseUrl: "ftp://example.com", key: "k" })).toThrow("http(s)");
    expect(() => new Latchkey({ baseUrl: "http://127.0.0.1", key: "" })).toThrow("key");
    const seen: string[] = [];
    const echo = scripted((request) => {
      seen.push(new URL(request.url).pathname);
      return Response.json({}, { status: 404 });
    });
    stops.push(echo.stop);
    await new Latchkey({ baseUrl: echo.url, key: "k" }).keys.get("../tenants").catch(() => {});
    expect(seen).toEqual(["/v1/keys/..%2Ftenants"]);
  });
});
