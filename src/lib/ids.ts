/**
 * Every id latchkey hands out is `<prefix>_<22 base62 characters>`: 48 bits of milliseconds then 80 random bits, so
 * ids sort by creation time (cursors are ids) and cannot be guessed. Within one process ids are strictly increasing:
 * a second id in the same millisecond (or after the clock stepped back) adds one to the previous random part, so
 * "newest first" is exact for everything one process creates. The prefix table is the only place prefixes live.
 */
import { BASE62_ALPHABET, encodeBase62 } from "./base62.ts";
import { randomBytes } from "./crypto.ts";

const ID_PREFIXES = {
  tenant: "ten",
  project: "prj",
  apiKey: "key",
  auditEvent: "aud",
  request: "req",
  signingKey: "sig",
  session: "ses",
} as const;

export type IdKind = keyof typeof ID_PREFIXES;

const ID_BODY_LENGTH = 22;
const TIME_BYTES = 6;
const RANDOM_BYTES = 10;

let lastMilliseconds = -1;
const lastBytes = new Uint8Array(TIME_BYTES + RANDOM_BYTES);

export function newId(kind: IdKind, nowMilliseconds: number): string {
  const milliseconds = Math.max(0, Math.floor(nowMilliseconds));
  if (milliseconds > lastMilliseconds) {
    lastMilliseconds = milliseconds;
    let time = milliseconds;
    for (let index = TIME_BYTES - 1; index >= 0; index--) {
      lastBytes[index] = time % 256;
      time = Math.floor(time / 256);
    }
    lastBytes.set(randomBytes(RANDOM_BYTES), TIME_BYTES);
  } else {
    incrementRandomPart(lastBytes);
  }
  return `${ID_PREFIXES[kind]}_${encodeBase62(lastBytes, ID_BODY_LENGTH)}`;
}

/**
 * Request ids only need to be unique and unguessable enough to correlate logs, and one is made for every request:
 * a random per-process prefix and a counter, without the cost of fresh randomness and a full encoding each time.
 */
const requestIdPrefix = `${ID_PREFIXES.request}_${encodeBase62(randomBytes(8), 11)}`;
let requestCounter = 0;

/** The counter's digits but the last, encoded again only when the last one wraps (once every 62 ids). */
let requestCounterHead = "";

export function newRequestId(): string {
  requestCounter = (requestCounter + 1) % 62 ** 8;
  const last = requestCounter % 62;
  if (last === 0 || requestCounterHead === "") {
    requestCounterHead = encodeUint32Base62Padded(Math.floor(requestCounter / 62)).slice(1);
  }
  return requestIdPrefix + requestCounterHead + BASE62_ALPHABET[last]!;
}

function encodeUint32Base62Padded(value: number): string {
  let text = "";
  let rest = value;
  for (let digit = 0; digit < 11; digit++) {
    text = BASE62_ALPHABET[rest % 62]! + text;
    rest = Math.floor(rest / 62);
  }
  return text;
}

function incrementRandomPart(bytes: Uint8Array): void {
  for (let index = bytes.length - 1; index >= TIME_BYTES; index--) {
    bytes[index] = (bytes[index]! + 1) % 256;
    if (bytes[index] !== 0) return;
  }
}

/** A pattern for ids of one kind, for wire schemas; it accepts nothing that could not be an id. */
export function idPattern(kind: IdKind): RegExp {
  return new RegExp(`^${ID_PREFIXES[kind]}_[0-9A-Za-z]{${ID_BODY_LENGTH}}$`);
}
