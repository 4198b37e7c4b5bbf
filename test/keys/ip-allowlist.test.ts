/**
 * A key's ip_allowlist: requests from other addresses are refused 403 IP_NOT_ALLOWED, on forward-auth (the client's
 * address, X-Forwarded-For read by the trusted-proxies rule), on management routes, for the tokens minted from the
 * key, and on /v1/keys/verify (the `ip` the host API names; none is a refusal), by both lanes alike.
 */
import { describe, expect, test } from "bun:test";
import { parseTrustedProxies } from "../../src/http/client-ip.ts";
import { createKey, expectError, mintSession } from "../support/keys.ts";
import { useWorld } from "../support/transports.ts";
import type { Answer, World } from "../support/world.ts";

const viaLocalProxy = (parseTrustedProxies("127.0.0.1") as { ok: true; proxies: never }).proxies;

async function keyFrom(world: World, ipAllowlist: string[] | undefined, scopes = ["runs:read"]) {
  const created = await world.call("POST", "/v1/keys", {
    key: world.rootKey,
    body: { name: "allowlisted", scopes, ...(ipAllowlist ? { ip_allowlist: ipAllowlist } : {}) },
  });
  expect(created.status).toBe(200);
  return { id: created.body.id as string, secret: created.body.secret as string, body: created.body };
}

async function fastLaneAnswers(world: World): Promise<number> {
  return Number(/latchkey_fast_lane_answers_total (\d+)/.exec((await world.call("GET", "/metrics")).text)![1]);
}

const refusal = (answer: Answer) => [answer.status, answer.headers.get("x-latchkey-error") ?? answer.body.error?.code];

// Over a real port: an in-process request has no client address, which a key with an allowlist refuses.
describe("ip_allowlist (http)", () => {
  const world = useWorld({ transport: "http" });

  test("only the listed addresses and ranges may use the key, on every route; warm answers agree", async () => {
    const here = await keyFrom(world, ["10.0.0.0/8", "127.0.0.0/8", "::1"], ["runs:read", "keys:read"]);
    const elsewhere = await keyFrom(world, ["10.0.0.0/8", "2001:db8::/32"], ["runs:read", "keys:read"]);
    for (let round = 0; round < 2; round++) {
      // The second round is answered from memory (the fast lane for authz): the same answers.
      expect((await world.call("GET", "/v1/authz", { key: here.secret })).status).toBe(200);
      expect((await world.call("GET", "/v1/keys", { key: here.secret })).status).toBe(200);
      expect(refusal(await world.call("GET", "/v1/authz", { key: elsewhere.secret }))).toEqual([403, "IP_NOT_ALLOWED"]);
      const management = await world.call("GET", "/v1/keys", { key: elsewhere.secret });
      expectError(management, 403, "IP_NOT_ALLOWED");
      expect(management.body.error.details).toEqual([{ path: "ip", message: "not in the key's ip_allowlist" }]);
    }
    const before = await fastLaneAnswers(world);
    await world.call("GET", "/v1/authz", { key: here.secret });
    expect(await fastLaneAnswers(world)).toBe(before + 1);
  });

  test("a change of the allowlist applies on the next request; null lets any address in again", async () => {
    const key = await keyFrom(world, ["127.0.0.1"]);
    expect((await world.call("GET", "/v1/authz", { key: key.secret })).status).toBe(200);
    const narrowed = await world.call("PATCH", `/v1/keys/${key.id}`, {
      key: world.rootKey,
      body: { ip_allowlist: ["192.0.2.1"] },
    });
    expect(narrowed.body.ip_allowlist).toEqual(["192.0.2.1"]);
    await world.deps.changeLog.catchUp();
    expect(refusal(await world.call("GET", "/v1/authz", { key: key.secret }))).toEqual([403, "IP_NOT_ALLOWED"]);
    await world.call("PATCH", `/v1/keys/${key.id}`, { key: world.rootKey, body: { ip_allowlist: null } });
    await world.deps.changeLog.catchUp();
    expect((await world.call("GET", "/v1/authz", { key: key.secret })).status).toBe(200);
  });

  test("tokens of an allowlisted key are used only from its addresses, on first use and warm", async () => {
    const key = await keyFrom(world, ["127.0.0.1"]);
    const token = await mintSession(world, key.secret);
    const withToken = () => world.call("GET", "/v1/authz", { headers: { "x-session-token": token } });
    expect([(await withToken()).status, (await withToken()).status]).toEqual([200, 200]);
    await world.call("PATCH", `/v1/keys/${key.id}`, { key: world.rootKey, body: { ip_allowlist: ["192.0.2.0/24"] } });
    await world.deps.changeLog.catchUp();
    expect(refusal(await withToken())).toEqual([403, "IP_NOT_ALLOWED"]);
    expect(refusal(await withToken())).toEqual([403, "IP_NOT_ALLOWED"]);
    const fresh = await world.call("POST", "/v1/sessions", { key: key.secret, body: { user_id: "u" } });
    expectError(fresh, 403, "IP_NOT_ALLOWED");
  });

  test("verification judges the ip the host API names: inside, outside, none, malformed", async () => {
    const key = await keyFrom(world, ["203.0.113.0/24", "2001:db8::/32"]);
    const token = await mintSession(world, (await keyFrom(world, undefined)).secret);
    const verify = async (body: Record<string, unknown>) => {
      const answer = await world.call("POST", "/v1/keys/verify", { body: { key: key.secret, ...body } });
      return answer.status === 200 ? [answer.body.valid, answer.body.code] : [answer.status];
    };
    for (let round = 0; round < 2; round++) {
      expect(await verify({ ip: "203.0.113.9" })).toEqual([true, "VALID"]);
      expect(await verify({ ip: "2001:db8::5" })).toEqual([true, "VALID"]);
      expect(await verify({ ip: "::ffff:203.0.113.9" })).toEqual([true, "VALID"]);
      expect(await verify({ ip: "198.51.100.1" })).toEqual([false, "IP_NOT_ALLOWED"]);
      expect(await verify({})).toEqual([false, "IP_NOT_ALLOWED"]);
    }
    const unknown = await world.call("POST", "/v1/keys/verify", { body: { key: key.secret } });
    expect(unknown.body.details).toEqual([{ path: "ip", message: "the client address is unknown" }]);
    for (const ip of ["203.0.113.0/24", "not an address", "fe80::1%eth0", "", 42]) {
      expect({ ip, answer: await verify({ ip }) }).toEqual({ ip, answer: [400] });
    }
    // A key without an allowlist does not care which address is named.
    const open = await world.call("POST", "/v1/keys/verify", { body: { token, ip: "198.51.100.1" } });
    expect(open.body.code).toBe("VALID");
  });

  test("the allowlist's bounds: an address or CIDR range each, 1 to 100 of them; not on the root key", async () => {
    const create = (ip_allowlist: unknown) =>
      world.call("POST", "/v1/keys", { key: world.rootKey, body: { name: "k", scopes: ["runs:read"], ip_allowlist } });
    const hundred = Array.from({ length: 100 }, (_, index) => `10.0.${index}.0/24`);
    expect((await create(hundred)).status).toBe(200);
    for (const [entries, path] of [
      [[...hundred, "10.1.0.0/16"], "ip_allowlist"],
      [[], "ip_allowlist"],
      [["10.0.0.0/33"], "ip_allowlist[0]"],
      [["127.0.0.1", "localhost"], "ip_allowlist[1]"],
      [["fe80::1%eth0"], "ip_allowlist[0]"],
      [["10.0.0.1/8/1"], "ip_allowlist[0]"],
      ["10.0.0.1", "ip_allowlist"],
    ] as const) {
      const answer = await create(entries);
      expect({ entries, status: answer.status, path: answer.body.error?.details?.[0]?.path }).toEqual({
        entries,
        status: 400,
        path,
      });
    }
    const keys = await world.call("GET", "/v1/keys", { key: world.rootKey });
    const rootId = keys.body.data.find((entry: { root: boolean }) => entry.root).id;
    const root = await world.call("PATCH", `/v1/keys/${rootId}`, {
      key: world.rootKey,
      body: { ip_allowlist: ["10.0.0.1"] },
    });
    expectError(root, 409, "CONFLICT");
    expect(root.body.error.details).toEqual([{ path: "ip_allowlist", message: "cannot be set on the root key" }]);
  });
});

describe("ip_allowlist behind a trusted proxy (http)", () => {
  const world = useWorld({ transport: "http", settings: { trustedProxies: viaLocalProxy } });

  test("the client is the forwarded address the trusted-proxies rule picks, on both lanes", async () => {
    const key = await keyFrom(world, ["203.0.113.0/24"]);
    const from = (forwarded: string) =>
      world.call("GET", "/v1/authz", { key: key.secret, headers: { "x-forwarded-for": forwarded } });
    for (let round = 0; round < 2; round++) {
      expect((await from("203.0.113.7")).status).toBe(200);
      expect(refusal(await from("198.51.100.1"))).toEqual([403, "IP_NOT_ALLOWED"]);
      // The rightmost untrusted hop is the client: an address written further left by the client is not believed.
      expect(refusal(await from("203.0.113.7, 198.51.100.1"))).toEqual([403, "IP_NOT_ALLOWED"]);
    }
    expect(refusal(await world.call("GET", "/v1/authz", { key: key.secret }))).toEqual([403, "IP_NOT_ALLOWED"]);
  });
});

// Created with an allowlist, a key is also shown with it.
describe("ip_allowlist on read (http)", () => {
  const world = useWorld({ transport: "http" });

  test("GET returns the allowlist as stored, null when there is none", async () => {
    const listed = await keyFrom(world, ["127.0.0.1", "2001:db8::/32"]);
    expect(listed.body.ip_allowlist).toEqual(["127.0.0.1", "2001:db8::/32"]);
    const plain = await createKey(world, { scopes: ["runs:read"] });
    expect(plain.body.ip_allowlist).toBeNull();
    const read = await world.call("GET", `/v1/keys/${listed.id}`, { key: world.rootKey });
    expect(read.body.ip_allowlist).toEqual(["127.0.0.1", "2001:db8::/32"]);
  });
});
