import { describe, expect, test } from "bun:test";
import {
  DEFAULT_KEY_PREFIX,
  generateSecret,
  hashSecret,
  isWellFormedSecret,
  secretHint,
} from "../../src/domain/keys/secret.ts";
import { newId, newRequestId } from "../../src/lib/ids.ts";

describe("secret format", () => {
  test("prefix + 43 base62 characters of 32 random bytes + 6-character checksum", () => {
    const secret = generateSecret(DEFAULT_KEY_PREFIX);
    expect(secret).toMatch(/^sk_live_[0-9A-Za-z]{49}$/);
    expect(isWellFormedSecret(secret)).toBe(true);
  });

  test("every single-character typo is caught by the checksum", () => {
    const secret = generateSecret(DEFAULT_KEY_PREFIX);
    let caught = 0;
    let tried = 0;
    for (let index = DEFAULT_KEY_PREFIX.length; index < secret.length; index++) {
      const replacement = secret[index] === "A" ? "B" : "A";
      tried++;
      if (!isWellFormedSecret(secret.slice(0, index) + replacement + secret.slice(index + 1))) caught++;
    }
    expect(caught).toBe(tried);
  });

  test("garbage is refused without a lookup", () => {
    for (const text of [
      "",
      "sk_live_",
      "Bearer x",
      `sk_live_${"a".repeat(49)}`,
      `SK_LIVE_${"a".repeat(49)}`,
      "é".repeat(57),
    ]) {
      expect(isWellFormedSecret(text)).toBe(false);
    }
    expect(isWellFormedSecret("x".repeat(1_000_000))).toBe(false);
  });

  test("secrets do not repeat and spread over the alphabet", () => {
    const secrets = new Set(Array.from({ length: 2000 }, () => generateSecret(DEFAULT_KEY_PREFIX)));
    expect(secrets.size).toBe(2000);
    const bodyCharacters = new Set([...secrets].flatMap((secret) => [...secret.slice(9, 50)]));
    expect(bodyCharacters.size).toBe(62);
  });

  test("the hint is the prefix and the last four characters; the hash is sha256 hex", () => {
    const secret = generateSecret("acme_");
    expect(secretHint(secret)).toBe(`acme_...${secret.slice(-4)}`);
    expect(hashSecret(secret)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashSecret(secret)).toBe(new Bun.CryptoHasher("sha256").update(secret).digest("hex"));
  });
});

describe("ids", () => {
  test("carry their prefix and sort by creation time, even within one millisecond", () => {
    const ids = [newId("apiKey", 1000), newId("apiKey", 1000), newId("apiKey", 1001), newId("apiKey", 999)];
    for (const id of ids) expect(id).toMatch(/^key_[0-9A-Za-z]{22}$/);
    expect([...ids].sort()).toEqual(ids);
  });

  test("request ids are well-formed, unique and increasing across many wraps of their last digit", () => {
    const ids = Array.from({ length: 62 * 40 + 7 }, () => newRequestId());
    for (const id of ids) expect(id).toMatch(/^req_[0-9A-Za-z]{22}$/);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });
});
