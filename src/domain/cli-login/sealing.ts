/**
 * The key minted on approval must wait for the CLI's poll, possibly in another process, so it goes to the database;
 * but only as a box the login id opens. The login id never reaches the database (only its hash), so the stored box
 * is unreadable to anyone without it, the operator and a stolen database file included.
 *
 *   seed        = HKDF-SHA256(login id, "latchkey cli session seal v1")
 *   recipient   = the X25519 key pair with that seed as its private key; the public half is stored at the start
 *   box         = a compact JWE (RFC 7516) to the recipient: ECDH-ES key agreement, A256GCM content encryption
 *
 * Sealing needs only the public half (approval happens by user code, without the login id); opening needs the id
 * (the CLI presents it on every poll). The box is standard JWE, made and opened by jose; the one thing neither jose
 * nor WebCrypto does is take a private key from a seed, so the seed is wrapped as PKCS#8 (RFC 8410: the fixed
 * 16-byte header of an X25519 private key, then the 32 key bytes) for Node to import.
 */
import { createPrivateKey, createPublicKey, hkdfSync, type KeyObject } from "node:crypto";
import { CompactEncrypt, compactDecrypt } from "jose";

/** RFC 8410 §7: SEQUENCE { version 0, AlgorithmIdentifier { id-X25519 }, OCTET STRING { OCTET STRING (32) } }. */
const PKCS8_X25519_HEADER = Buffer.from("302e020100300506032b656e04220420", "hex");
const SEED_INFO = "latchkey cli session seal v1";
const JWE_HEADER = { alg: "ECDH-ES", enc: "A256GCM" } as const;

function recipientPrivateKey(loginId: string): KeyObject {
  const seed = Buffer.from(hkdfSync("sha256", loginId, "", SEED_INFO, 32));
  return createPrivateKey({ key: Buffer.concat([PKCS8_X25519_HEADER, seed]), format: "der", type: "pkcs8" });
}

/** The public half to store at the start of a login (its raw 32 bytes, base64url: the JWK's `x`). */
export function sealingPublicKeyFor(loginId: string): string {
  return (createPublicKey(recipientPrivateKey(loginId)).export({ format: "jwk" }) as { x: string }).x;
}

export async function seal(plaintext: string, sealingPublicKey: string): Promise<string> {
  const recipient = createPublicKey({ key: { kty: "OKP", crv: "X25519", x: sealingPublicKey }, format: "jwk" });
  return new CompactEncrypt(new TextEncoder().encode(plaintext)).setProtectedHeader(JWE_HEADER).encrypt(recipient);
}

/** The sealed text, or null when the box cannot be opened with this login id (or was sealed by an older format). */
export async function open(box: string, loginId: string): Promise<string | null> {
  try {
    const { plaintext } = await compactDecrypt(box, recipientPrivateKey(loginId), {
      keyManagementAlgorithms: [JWE_HEADER.alg],
      contentEncryptionAlgorithms: [JWE_HEADER.enc],
    });
    return new TextDecoder().decode(plaintext);
  } catch (error) {
    // jose's documented codes: a box this id cannot open is an answer, anything else is a fault.
    if (String((error as { code?: unknown }).code).startsWith("ERR_JWE")) return null;
    throw error;
  }
}
