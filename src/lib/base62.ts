/**
 * Fixed-width base62 over the ASCII-ordered alphabet 0-9A-Za-z. Fixed width keeps secrets a constant length and
 * keeps time-prefixed ids sorting in creation order under SQLite's byte-wise comparison.
 */
export const BASE62_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** Characters needed to write any value of `byteLength` bytes: ceil(8·n / log2 62). */
export function base62WidthForBytes(byteLength: number): number {
  return Math.ceil((byteLength * 8) / Math.log2(62));
}

export function encodeBase62(bytes: Uint8Array, width = base62WidthForBytes(bytes.length)): string {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return encodeBigIntBase62(value, width);
}

export function encodeUint32Base62(value: number, width: number): string {
  return encodeBigIntBase62(BigInt(value >>> 0), width);
}

function encodeBigIntBase62(value: bigint, width: number): string {
  let text = "";
  let rest = value;
  while (rest > 0n) {
    text = BASE62_ALPHABET[Number(rest % 62n)] + text;
    rest /= 62n;
  }
  if (text.length > width) throw new RangeError(`value needs ${text.length} base62 characters, more than ${width}`);
  return text.padStart(width, "0");
}
