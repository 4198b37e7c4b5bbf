/**
 * The only randomness, hashing and comparison primitives latchkey uses. Secrets come from the CSPRNG, are stored only
 * as SHA-256 digests, and are compared in constant time so response timing says nothing about how much matched.
 */
import { timingSafeEqual } from "node:crypto";

export function randomBytes(length: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(length));
}

export function sha256Hex(text: string): string {
  return new Bun.CryptoHasher("sha256").update(text).digest("hex");
}

export function sha256Bytes(data: string | Uint8Array): Uint8Array {
  return new Uint8Array(new Bun.CryptoHasher("sha256").update(data).digest().buffer);
}

/** Constant-time for equal lengths; a length mismatch returns early, which reveals only the length. */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  if (left.length !== right.length) return false;
  return timingSafeEqual(left, right);
}

export function base64UrlEncode(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64url");
}
