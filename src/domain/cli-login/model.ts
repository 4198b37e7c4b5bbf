/**
 * CLI login: a command-line tool without a credential asks for a login session, shows the user a URL and a code,
 * the user approves in a browser, and the tool collects a fresh API key.
 *
 *   pending ──approve──▶ approved ──acknowledge──▶ delivered
 *      │                    │
 *      ├──deny──▶ denied    └── 60 s after first delivery, unacknowledged ──▶ expired (key wiped)
 *      └── expires_at passes ──▶ expired
 *
 * States only move forward. Everything here is a pure function of (login, now); the store applies a decision in
 * one guarded write, so concurrent approvers and pollers agree.
 *
 * Secrets: the login id (`cls_` + 192 random bits; the wire calls it the session id) is a capability the CLI holds;
 * only its SHA-256 is stored. The user code (8 letters from BCDFGHJKLMNPQRSTVWXZ, shown XXXX-XXXX) is what a human
 * types or sees; it is short, so wrong codes are limited per approving key, per client address and per project
 * within a login's lifetime. With PKCE (`codeChallenge`, S256) polling and acknowledging also need the verifier.
 */
import { encodeBase62 } from "../../lib/base62.ts";
import { constantTimeEqual, randomBytes, sha256Bytes, sha256Hex } from "../../lib/crypto.ts";
import { isLoopbackHost, parseUrlOrNull } from "../../lib/urls.ts";

export type CliLoginStatus = "pending" | "approved" | "delivered" | "denied" | "expired";

/** How long a minted key waits for the CLI's acknowledgement after it was first handed over. */
export const DELIVERY_WINDOW_MILLISECONDS = 60_000;
const USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ";
const USER_CODE_LENGTH = 8;
/** Wrong user codes allowed per approving key and per client address within a session lifetime. */
export const WRONG_USER_CODE_ATTEMPTS = 5;
/**
 * Wrong user codes allowed per project within a session lifetime, whoever guesses: with 20^8 codes, even a thousand
 * pending logins give 50 guesses a chance of about 2 in a million to hit one.
 */
export const WRONG_USER_CODE_ATTEMPTS_PER_PROJECT = 50;
const LOGIN_ID_BYTES = 24;
const LOGIN_ID_PATTERN = /^cls_[0-9A-Za-z]{33}$/;

export function newLoginId(): string {
  return `cls_${encodeBase62(randomBytes(LOGIN_ID_BYTES), 33)}`;
}

export function isLoginIdShaped(text: string): boolean {
  return LOGIN_ID_PATTERN.test(text);
}

export function hashLoginId(loginId: string): string {
  return sha256Hex(loginId);
}

/** Eight letters, uniformly from the alphabet (rejection sampling keeps every letter equally likely). */
export function newUserCode(): string {
  let code = "";
  while (code.length < USER_CODE_LENGTH) {
    for (const byte of randomBytes(16)) {
      if (byte < 240 && code.length < USER_CODE_LENGTH) code += USER_CODE_ALPHABET[byte % USER_CODE_ALPHABET.length];
    }
  }
  return code;
}

export function displayUserCode(code: string): string {
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}

/** A code as a human typed it: case, spaces and the dash do not matter. Null when it cannot be a user code. */
export function normaliseUserCode(typed: string): string | null {
  const code = typed.toUpperCase().replace(/[\s-]/g, "");
  if (code.length !== USER_CODE_LENGTH) return null;
  for (const letter of code) if (!USER_CODE_ALPHABET.includes(letter)) return null;
  return code;
}

/** The state the session is really in at `now`, once time has had its say. */
export function effectiveStatus(
  session: { status: CliLoginStatus; expiresAtMs: number; firstDeliveredAtMs: number | null },
  nowMilliseconds: number,
): CliLoginStatus {
  if (session.status === "pending" && nowMilliseconds >= session.expiresAtMs) return "expired";
  if (
    session.status === "approved" &&
    session.firstDeliveredAtMs !== null &&
    nowMilliseconds >= session.firstDeliveredAtMs + DELIVERY_WINDOW_MILLISECONDS
  ) {
    return "expired";
  }
  return session.status;
}

export type PollPace = { ok: true } | { ok: false; retryAfterSeconds: number };

/** A poll sooner than `interval` after the previous one is refused, saying how long to wait. */
export function pollPace(lastPolledAtMs: number | null, intervalSeconds: number, nowMilliseconds: number): PollPace {
  if (lastPolledAtMs === null) return { ok: true };
  const waitMs = lastPolledAtMs + intervalSeconds * 1000 - nowMilliseconds;
  return waitMs <= 0 ? { ok: true } : { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
}

/** PKCE S256: base64url(sha256(verifier)) must equal the challenge. */
export function verifierMatches(challenge: string, verifier: string): boolean {
  if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier)) return false;
  return constantTimeEqual(Buffer.from(sha256Bytes(verifier)).toString("base64url"), challenge);
}

export type CallbackCheck = { ok: true } | { ok: false; reason: string };

/**
 * Where the browser may be sent after approval: https, or plain http to a loopback address when the project allows
 * it (a CLI listening on 127.0.0.1, as RFC 8252 describes). No credentials, no fragment, no other scheme; and when the
 * project lists callback hosts, only those, each with its port (loopback callbacks are governed by the loopback
 * setting alone).
 */
export function checkCallbackUrl(
  text: string,
  project: { callbackHosts: string[] | null; cliLoopbackHttp: boolean },
): CallbackCheck {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this refuses.
  if (/[\u0000-\u001f\u007f\\\s]/.test(text))
    return { ok: false, reason: "must not contain spaces, backslashes or control characters" };
  const url = parseUrlOrNull(text);
  if (url === null || !/^https?:\/\//i.test(text)) return { ok: false, reason: "must be an absolute http(s) URL" };
  if (url.username !== "" || url.password !== "") return { ok: false, reason: "must not carry credentials" };
  if (url.hash !== "" || text.includes("#")) return { ok: false, reason: "must not have a fragment" };
  const loopback = isLoopbackHost(url.hostname);
  if (url.protocol === "http:") {
    if (!loopback)
      return { ok: false, reason: "plain http is allowed only for loopback hosts (127.0.0.1, [::1], localhost)" };
    if (!project.cliLoopbackHttp) return { ok: false, reason: "this project does not allow plain http callbacks" };
    return { ok: true };
  }
  // `host` carries the port unless it is https's default: an entry without a port allows 443 only, `host:port` that
  // port only, so a listed host does not open every other service on the same machine.
  if (project.callbackHosts !== null && !loopback && !project.callbackHosts.includes(url.host)) {
    return { ok: false, reason: "host is not one of the project's callback hosts" };
  }
  return { ok: true };
}
