/**
 * The CLI login rules as tables: the state a login is really in at a moment, where a browser may be sent, how fast a
 * CLI may poll, how typed codes are read, and PKCE. Pure functions of their inputs and `now`.
 */
import { describe, expect, test } from "bun:test";
import {
  type CliLoginStatus,
  checkCallbackUrl,
  DELIVERY_WINDOW_MILLISECONDS,
  effectiveStatus,
  normaliseUserCode,
  pollPace,
  verifierMatches,
} from "../../src/domain/cli-login/model.ts";
import { sha256Bytes } from "../../src/lib/crypto.ts";

const EXPIRES = 10_000;

describe("effectiveStatus: what time has made of a login", () => {
  const rows: [string, CliLoginStatus, number | null, number, CliLoginStatus][] = [
    ["pending, before its expiry", "pending", null, EXPIRES - 1, "pending"],
    ["pending, at its expiry", "pending", null, EXPIRES, "expired"],
    ["approved, never handed over, long after the login's expiry", "approved", null, EXPIRES * 100, "approved"],
    [
      "approved, handed over, within the delivery window",
      "approved",
      5_000,
      5_000 + DELIVERY_WINDOW_MILLISECONDS - 1,
      "approved",
    ],
    ["approved, handed over, at the window's end", "approved", 5_000, 5_000 + DELIVERY_WINDOW_MILLISECONDS, "expired"],
    ["delivered stays delivered", "delivered", 5_000, EXPIRES * 100, "delivered"],
    ["denied stays denied", "denied", null, EXPIRES * 100, "denied"],
    ["expired stays expired", "expired", null, 0, "expired"],
  ];
  for (const [label, status, firstDeliveredAtMs, now, expected] of rows) {
    test(`${label} → ${expected}`, () => {
      expect(effectiveStatus({ status, expiresAtMs: EXPIRES, firstDeliveredAtMs }, now)).toBe(expected);
    });
  }
});

describe("checkCallbackUrl: where the browser may go after approval", () => {
  const open: { callbackHosts: string[] | null; cliLoopbackHttp: boolean } = {
    callbackHosts: null,
    cliLoopbackHttp: true,
  };
  const listed = { callbackHosts: ["cli.example.com"], cliLoopbackHttp: true };
  const noLoopback = { callbackHosts: null, cliLoopbackHttp: false };
  const withPort = { callbackHosts: ["cli.example.com:8443"], cliLoopbackHttp: true };
  const rows: [string, string, typeof open, string | null][] = [
    ["https anywhere, with no list", "https://anything.example/done", open, null],
    ["http to 127.0.0.1", "http://127.0.0.1:8123/cb", open, null],
    ["http to [::1]", "http://[::1]:8123/cb", open, null],
    ["http to localhost", "http://localhost:8123/cb", open, null],
    ["http to 127.x.y.z", "http://127.4.5.6/cb", open, null],
    ["http off loopback", "http://cli.example.com/cb", open, "plain http is allowed only for loopback hosts"],
    ["http to loopback where the project forbids it", "http://127.0.0.1/cb", noLoopback, "this project does not allow"],
    ["a listed host", "https://cli.example.com/cb", listed, null],
    [
      "an unlisted host where a list exists",
      "https://evil.example/cb",
      listed,
      "not one of the project's callback hosts",
    ],
    ["loopback is not limited by the host list", "https://127.0.0.1/cb", listed, null],
    [
      "regression: a listed host on another port",
      "https://cli.example.com:8443/cb",
      listed,
      "not one of the project's callback hosts",
    ],
    ["a listed host with its default port written out", "https://cli.example.com:443/cb", listed, null],
    ["a host listed with its port, on that port", "https://cli.example.com:8443/cb", withPort, null],
    [
      "a host listed with its port, on the default port",
      "https://cli.example.com/cb",
      withPort,
      "not one of the project's callback hosts",
    ],
    ["credentials in the URL", "https://user:pass@cli.example.com/cb", open, "must not carry credentials"],
    ["a fragment", "https://cli.example.com/cb#x", open, "must not have a fragment"],
    ["an empty fragment", "https://cli.example.com/cb#", open, "must not have a fragment"],
    ["another scheme", "javascript:alert(1)", open, "must be an absolute http(s) URL"],
    ["a relative URL", "/cb", open, "must be an absolute http(s) URL"],
    ["a backslash", "https://cli.example.com\\@evil.example/", open, "must not contain spaces"],
    ["a control character", "https://cli.example.com/\u0000", open, "must not contain spaces"],
    ["a space", "https://cli.example.com/a b", open, "must not contain spaces"],
  ];
  for (const [label, url, project, reason] of rows) {
    test(`${label}: ${reason === null ? "allowed" : "refused"}`, () => {
      const check = checkCallbackUrl(url, project);
      if (reason === null) expect(check).toEqual({ ok: true });
      else expect(check.ok === false && check.reason).toContain(reason);
    });
  }
});

describe("pollPace: a poll sooner than the interval after the last is refused, saying how long to wait", () => {
  const rows: [string, number | null, number, number, ReturnType<typeof pollPace>][] = [
    ["the first poll", null, 5, 0, { ok: true }],
    ["exactly the interval later", 1_000, 5, 6_000, { ok: true }],
    ["a millisecond too soon: wait a whole second", 1_000, 5, 5_999, { ok: false, retryAfterSeconds: 1 }],
    ["at once: wait the whole interval", 1_000, 5, 1_000, { ok: false, retryAfterSeconds: 5 }],
    ["2.5 s too soon: round up to 3", 1_000, 5, 3_500, { ok: false, retryAfterSeconds: 3 }],
  ];
  for (const [label, last, interval, now, expected] of rows) {
    test(label, () => expect(pollPace(last, interval, now)).toEqual(expected));
  }
});

describe("user codes are read the way people type them", () => {
  const rows: [string, string | null][] = [
    ["BCDF-GHJK", "BCDFGHJK"],
    ["bcdfghjk", "BCDFGHJK"],
    [" bcdf ghjk ", "BCDFGHJK"],
    ["BCDF-GHJ", null],
    ["BCDF-GHJKL", null],
    ["BCDF-GHJA", null],
    ["", null],
  ];
  for (const [typed, expected] of rows)
    test(`${JSON.stringify(typed)} → ${expected}`, () => expect(normaliseUserCode(typed)).toBe(expected));
});

describe("PKCE: base64url(sha256(verifier)) must equal the challenge", () => {
  const verifier = "a".repeat(43);
  const challenge = Buffer.from(sha256Bytes(verifier)).toString("base64url");
  test("the right verifier", () => expect(verifierMatches(challenge, verifier)).toBe(true));
  test("another verifier", () => expect(verifierMatches(challenge, "b".repeat(43))).toBe(false));
  test("a verifier shorter than RFC 7636 allows", () => {
    const short = "a".repeat(42);
    expect(verifierMatches(Buffer.from(sha256Bytes(short)).toString("base64url"), short)).toBe(false);
  });
  test("a verifier with characters RFC 7636 does not allow", () => {
    const odd = `${"a".repeat(42)}+`;
    expect(verifierMatches(Buffer.from(sha256Bytes(odd)).toString("base64url"), odd)).toBe(false);
  });
});
