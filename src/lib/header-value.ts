/**
 * The one encoder for values that come from users (an end user's id, an owner, a key name) and leave in a response
 * header. HTTP field values are bytes, and a server may only send visible ASCII reliably: Latin-1 bytes are
 * "obs-text" that proxies mangle, anything beyond Latin-1 cannot be written at all, and control characters split
 * headers. So the value's UTF-8 bytes are percent-encoded as RFC 3986 does: visible ASCII other than `%` passes,
 * every other byte (space included, so no value is trimmed by a parser) is written `%XX` in upper-case hex.
 * `decodeURIComponent` restores the original.
 *
 *   user_42 → user_42      zoë → zo%C3%AB      日本 → %E6%97%A5%E6%9C%AC      a b% → a%20b%25
 */
const PASSES_AS_IS = /^[\x21-\x24\x26-\x7e]*$/;
const encoder = new TextEncoder();

export function toHeaderValue(text: string): string {
  if (PASSES_AS_IS.test(text)) return text;
  let encoded = "";
  for (const byte of encoder.encode(text)) {
    encoded +=
      byte >= 0x21 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return encoded;
}
