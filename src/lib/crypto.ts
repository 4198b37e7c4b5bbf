/**
 * The only randomness, hashing and comparison primitives latchkey uses. Secrets come from the CSPRNG, are stored only
 * as SHA-256 digests, and are compared in constant time so response timing says nothing about how much matched.
 */
export function randomBytes(length: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(length));
}

/** Bun's one-shot SHA-256: half the cost of building a hasher per call, and this runs for every key checked. */
export function sha256Hex(text: string): string {
  return Bun.SHA256.hash(text, "hex") as string;
}

export function sha256Bytes(data: string | Uint8Array): Uint8Array {
  return new Uint8Array(new Bun.CryptoHasher("sha256").update(data).digest().buffer);
}

/**
 * Compares without an early exit on the first difference: every character is looked at and the differences are
 * accumulated without branching. A length mismatch returns early, which reveals only the length (our inputs are
 * fixed-length digests).
 */
export function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let index = 0; index < a.length; index++) difference |= a.charCodeAt(index) ^ b.charCodeAt(index);
  return difference === 0;
}

/**
 * The bytes of `text` if it is the one unpadded base64url spelling of them; undefined otherwise. Decoders ignore the
 * unused low bits of the last character (and a dangling sixth bit group), so the same bytes have up to sixteen
 * spellings; where a string is an identity (a token is a cache key, and what users deny-list), only the canonical one
 * may count.
 */
export function decodeCanonicalBase64Url(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, "base64url");
  return bytes.toString("base64url") === text ? bytes : undefined;
}
