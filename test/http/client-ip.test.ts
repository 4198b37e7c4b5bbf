import { afterEach, describe, expect, test } from "bun:test";
import { clientAddress, NO_TRUSTED_PROXIES, parseTrustedProxies } from "../../src/http/client-ip.ts";
import { expectError } from "../support/keys.ts";
import { createWorld, type World } from "../support/world.ts";

function trusted(text: string) {
  const parsed = parseTrustedProxies(text);
  if (!parsed.ok) throw new Error(`bad: ${parsed.bad}`);
  return parsed.proxies;
}

describe("client address", () => {
  test("without trusted proxies X-Forwarded-For is ignored", () => {
    expect(clientAddress("203.0.113.9", "198.51.100.1", NO_TRUSTED_PROXIES)).toBe("203.0.113.9");
  });

  test("from a trusted proxy, the right-most address that is not a trusted proxy is the client", () => {
    const proxies = trusted("10.0.0.0/8, 127.0.0.1, fd00::/8");
    expect(clientAddress("127.0.0.1", "198.51.100.1", proxies)).toBe("198.51.100.1");
    expect(clientAddress("127.0.0.1", "6.6.6.6, 198.51.100.1, 10.1.2.3", proxies)).toBe("198.51.100.1");
    expect(clientAddress("::ffff:127.0.0.1", "198.51.100.1", proxies)).toBe("198.51.100.1");
    expect(clientAddress("fd12::1", "2001:db8::7", proxies)).toBe("2001:db8::7");
    expect(clientAddress("127.0.0.1", "10.0.0.1, 10.0.0.2", proxies)).toBe("127.0.0.1");
    expect(clientAddress("127.0.0.1", "not-an-ip", proxies)).toBe("127.0.0.1");
    expect(clientAddress("203.0.113.9", "198.51.100.1", proxies)).toBe("203.0.113.9");
  });

  test("bad proxy entries are reported", () => {
    expect(parseTrustedProxies("10.0.0.0/33, 300.1.1.1, localhost, ::1/129, 1.2.3.4")).toEqual({
      ok: false,
      bad: ["10.0.0.0/33", "300.1.1.1", "localhost", "::1/129"],
    });
    expect(parseTrustedProxies("").ok).toBe(true);
  });

  test("CIDR boundaries", () => {
    const proxies = trusted("192.168.4.0/22,2001:db8::/32");
    expect(proxies.has("192.168.7.255")).toBe(true);
    expect(proxies.has("192.168.8.0")).toBe(false);
    expect(proxies.has("2001:db8:ffff::1")).toBe(true);
    expect(proxies.has("2001:db9::1")).toBe(false);
  });
});

describe("trusted proxies over a real port", () => {
  let world: World;
  afterEach(() => world.close());

  test("failed authentications count against the forwarded client, only when the peer is trusted", async () => {
    world = await createWorld({
      transport: "http",
      settings: { trustedProxies: trusted("127.0.0.1"), authFailurePolicy: { limit: 2, windowSeconds: 60 } },
    });
    const fail = (forwardedFor: string) =>
      world.call("GET", "/v1/keys", { key: "sk_live_nope", headers: { "x-forwarded-for": forwardedFor } });
    await fail("198.51.100.1");
    await fail("198.51.100.1");
    expectError(await fail("198.51.100.1"), 429, "RATE_LIMITED");
    expectError(await fail("198.51.100.2"), 401, "API_KEY_INVALID");
  });

  test("an untrusted peer's X-Forwarded-For cannot dodge the limit", async () => {
    world = await createWorld({ transport: "http", settings: { authFailurePolicy: { limit: 2, windowSeconds: 60 } } });
    for (const forwardedFor of ["1.1.1.1", "2.2.2.2"]) {
      await world.call("GET", "/v1/keys", { key: "sk_live_nope", headers: { "x-forwarded-for": forwardedFor } });
    }
    expectError(
      await world.call("GET", "/v1/keys", { key: "sk_live_nope", headers: { "x-forwarded-for": "3.3.3.3" } }),
      429,
      "RATE_LIMITED",
    );
  });
});
