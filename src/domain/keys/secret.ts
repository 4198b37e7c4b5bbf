/**
 * API key secrets.
 *
 *   <prefix><body><checksum>      e.g. sk_live_3kTm…(43 chars)…Q9zA1b
 *
 * - prefix: project-configurable, lower case, ends in "_" (default `sk_live_`); base62 has no "_", so the prefix is
 *   everything before the last 49 characters and parsing is unambiguous.
 * - body: base62 of 32 CSPRNG bytes (256 bits), always 43 characters.
 * - checksum: CRC32 of prefix+body in 6 base62 characters. It lets garbage and typos be refused without a database
 *   lookup; it is not a security control (anyone can compute it).
 *
 * Only sha256(secret) is stored. The display hint is the prefix and the last four characters.
 */
import { decodeBase62Number, encodeBase62, encodeUint32Base62 } from "../../lib/base62.ts";
import { randomBytes, sha256Hex } from "../../lib/crypto.ts";

export const DEFAULT_KEY_PREFIX = "sk_live_";
export const ROOT_KEY_PREFIX = "lk_root_";
/**
 * Prefixes no project may take, so that a leaked secret starting with one is always latchkey's own (the root key
 * today) for leak scanners and people reading a hint.
 */
export const RESERVED_KEY_PREFIX_NAMESPACE = "lk_";

const SECRET_BYTES = 32;
const BODY_LENGTH = 43;
const CHECKSUM_LENGTH = 6;
export const KEY_PREFIX_PATTERN = /^[a-z][a-z0-9_]{0,30}_$/;
/** Longer than any well-formed secret; anything longer is refused before a regular expression sees it. */
export const MAX_SECRET_LENGTH = 32 + BODY_LENGTH + CHECKSUM_LENGTH;
const SECRET_PATTERN = /^[a-z][a-z0-9_]{0,30}_[0-9A-Za-z]{49}$/;

function checksumOf(prefixAndBody: string): string {
  return encodeUint32Base62(Bun.hash.crc32(prefixAndBody), CHECKSUM_LENGTH);
}

export function generateSecret(prefix: string): string {
  if (!KEY_PREFIX_PATTERN.test(prefix)) throw new RangeError("key prefix is not well-formed");
  const prefixAndBody = prefix + encodeBase62(randomBytes(SECRET_BYTES), BODY_LENGTH);
  return prefixAndBody + checksumOf(prefixAndBody);
}

/** True when the text has the shape of a secret and its checksum matches: the cheap gate before any lookup. */
export function isWellFormedSecret(text: string): boolean {
  if (text.length > MAX_SECRET_LENGTH || !SECRET_PATTERN.test(text)) return false;
  const checksumAt = text.length - CHECKSUM_LENGTH;
  return Bun.hash.crc32(text.slice(0, checksumAt)) === decodeBase62Number(text, checksumAt);
}

export function hashSecret(secret: string): string {
  return sha256Hex(secret);
}

export function secretHint(secret: string): string {
  const prefix = secret.slice(0, secret.length - BODY_LENGTH - CHECKSUM_LENGTH);
  return `${prefix}...${secret.slice(-4)}`;
}
