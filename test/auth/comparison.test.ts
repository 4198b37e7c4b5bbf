/**
 * Secrets and digests are compared in constant time (src/lib/crypto.ts, on node:crypto's timingSafeEqual): equal
 * only when every byte is, whatever the strings' lengths in characters.
 */
import { describe, expect, test } from "bun:test";
import { constantTimeEqual } from "../../src/lib/crypto.ts";

describe("constant-time comparison", () => {
  const digest = "0123456789abcdef".repeat(4);

  test("equal strings are equal; one byte off anywhere is not", () => {
    expect(constantTimeEqual(digest, `${digest}`)).toBe(true);
    for (const at of [0, 31, 63]) {
      const changed = `${digest.slice(0, at)}${digest[at] === "0" ? "1" : "0"}${digest.slice(at + 1)}`;
      expect({ at, equal: constantTimeEqual(digest, changed) }).toEqual({ at, equal: false });
    }
    expect(constantTimeEqual("", "")).toBe(true);
  });

  test("a different length, in characters or only in UTF-8 bytes, is never equal (and never throws)", () => {
    expect(constantTimeEqual(digest, digest.slice(1))).toBe(false);
    expect(constantTimeEqual(digest, `${digest}0`)).toBe(false);
    expect(constantTimeEqual("ab", "é")).toBe(false);
    expect(constantTimeEqual("éa", "ab")).toBe(false);
    expect(constantTimeEqual("é", "é")).toBe(true);
  });
});
