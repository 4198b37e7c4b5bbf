/** The box a minted key waits in: only the login id that started the login opens it, and it is a standard JWE. */
import { describe, expect, test } from "bun:test";
import { decodeProtectedHeader } from "jose";
import { newLoginId } from "../../src/domain/cli-login/model.ts";
import { open, seal, sealingPublicKeyFor } from "../../src/domain/cli-login/sealing.ts";

describe("sealing a minted key to a login", () => {
  test("the login id opens what was sealed to its public half; another id opens nothing", async () => {
    const loginId = newLoginId();
    const box = await seal("sk_live_minted", sealingPublicKeyFor(loginId));
    expect(await open(box, loginId)).toBe("sk_live_minted");
    expect(await open(box, newLoginId())).toBeNull();
  });

  test("the box is a compact JWE: ECDH-ES with A256GCM, a fresh ephemeral key every time", async () => {
    const publicKey = sealingPublicKeyFor(newLoginId());
    const [first, second] = [await seal("x", publicKey), await seal("x", publicKey)];
    expect(first.split(".").length).toBe(5);
    expect(decodeProtectedHeader(first)).toMatchObject({
      alg: "ECDH-ES",
      enc: "A256GCM",
      epk: { kty: "OKP", crv: "X25519" },
    });
    expect(first).not.toBe(second);
    expect(first).not.toContain("sk_live");
  });

  test("the public half is derived from the id alone, the same in every process", () => {
    const loginId = newLoginId();
    expect(sealingPublicKeyFor(loginId)).toBe(sealingPublicKeyFor(loginId));
    expect(sealingPublicKeyFor(loginId)).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  test("a box of an earlier format, or garbage, opens to nothing rather than failing", async () => {
    const loginId = newLoginId();
    for (const box of ["a.b.c", "", "not a box", `${"x".repeat(40)}.${"y".repeat(16)}.${"z".repeat(40)}`]) {
      expect(await open(box, loginId)).toBeNull();
    }
  });
});
