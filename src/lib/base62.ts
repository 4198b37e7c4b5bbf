/**
 * Fixed-width base62 over the ASCII-ordered alphabet 0-9A-Za-z. Fixed width keeps secrets a constant length and
 * keeps time-prefixed ids sorting in creation order under SQLite's byte-wise comparison.
 *
 * Encoding is long division of the big-endian number held in 16-bit limbs, so no BigInt is involved: this runs for
 * every request id and every checksum check, on the hot path.
 */
export const BASE62_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** Characters needed to write any value of `byteLength` bytes: ceil(8·n / log2 62). */
function base62WidthForBytes(byteLength: number): number {
  return Math.ceil((byteLength * 8) / Math.log2(62));
}

export function encodeBase62(bytes: Uint8Array, width = base62WidthForBytes(bytes.length)): string {
  const limbs = new Array<number>(Math.ceil(bytes.length / 2));
  const offset = limbs.length * 2 - bytes.length;
  for (let index = 0; index < limbs.length; index++) {
    const high = index * 2 - offset;
    limbs[index] = ((high >= 0 ? bytes[high]! : 0) << 8) | bytes[high + 1]!;
  }
  return encodeLimbs(limbs, width);
}

export function encodeUint32Base62(value: number, width: number): string {
  const unsigned = value >>> 0;
  return encodeLimbs([unsigned >>> 16, unsigned & 0xffff], width);
}

/** Repeatedly divides the number (16-bit limbs, most significant first) by 62, collecting remainders. */
function encodeLimbs(limbs: number[], width: number): string {
  const digits = new Array<string>(width);
  let start = 0;
  for (let position = width - 1; position >= 0; position--) {
    let remainder = 0;
    for (let index = start; index < limbs.length; index++) {
      const value = (remainder << 16) | limbs[index]!;
      limbs[index] = Math.floor(value / 62);
      remainder = value % 62;
    }
    digits[position] = BASE62_ALPHABET[remainder]!;
    while (start < limbs.length && limbs[start] === 0) start++;
  }
  if (start < limbs.length) throw new RangeError(`value needs more than ${width} base62 characters`);
  return digits.join("");
}

/** The number written by the base62 digits of `text` from `start` to its end (at most 8 digits, so it stays exact). */
export function decodeBase62Number(text: string, start: number): number {
  let value = 0;
  for (let index = start; index < text.length; index++) {
    value = value * 62 + digitOf(text.charCodeAt(index));
  }
  return value;
}

/** The value of one base62 character code: 0-9, then A-Z, then a-z (ASCII order, as the alphabet). */
function digitOf(code: number): number {
  if (code <= 57) return code - 48;
  return code <= 90 ? code - 55 : code - 61;
}
