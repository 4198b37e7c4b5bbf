/**
 * The client's address: the socket's peer, unless that peer is a configured trusted proxy, in which case
 * X-Forwarded-For is read from the right, skipping trusted proxies, and the first other address is the client.
 * Without trusted proxies X-Forwarded-For is ignored entirely (anyone can write it).
 */
export interface TrustedProxies {
  has(address: string): boolean;
}

interface Range {
  version: 4 | 6;
  network: bigint;
  prefixLength: number;
}

export function parseTrustedProxies(
  text: string,
): { ok: true; proxies: TrustedProxies } | { ok: false; bad: string[] } {
  const entries = text
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
  const ranges: Range[] = [];
  const bad: string[] = [];
  for (const entry of entries) {
    const range = parseRange(entry);
    if (range) ranges.push(range);
    else bad.push(entry);
  }
  if (bad.length > 0) return { ok: false, bad };
  return {
    ok: true,
    proxies: {
      has: (address) => {
        const parsed = parseAddress(address);
        return parsed !== null && ranges.some((range) => inRange(parsed, range));
      },
    },
  };
}

export const NO_TRUSTED_PROXIES: TrustedProxies = { has: () => false };

export function clientAddress(
  socketAddress: string | null,
  forwardedFor: string | null,
  trusted: TrustedProxies,
): string | null {
  if (socketAddress === null) return null;
  const peer = normaliseAddress(socketAddress);
  if (forwardedFor === null || !trusted.has(peer)) return peer;
  const hops = forwardedFor.split(",").map((hop) => hop.trim());
  for (let index = hops.length - 1; index >= 0; index--) {
    const hop = hops[index]!;
    if (parseAddress(hop) === null) return peer;
    const address = normaliseAddress(hop);
    if (!trusted.has(address)) return address;
  }
  return peer;
}

/** IPv4-mapped IPv6 (::ffff:a.b.c.d) is the IPv4 address it carries. */
function normaliseAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1]! : address.toLowerCase();
}

function parseRange(entry: string): Range | null {
  const [addressText, prefixText] = entry.split("/");
  const address = parseAddress(addressText ?? "");
  if (address === null) return null;
  const maxPrefix = address.version === 4 ? 32 : 128;
  const prefixLength = prefixText === undefined ? maxPrefix : Number(prefixText);
  if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > maxPrefix) return null;
  return { version: address.version, network: address.value, prefixLength };
}

function inRange(address: { version: 4 | 6; value: bigint }, range: Range): boolean {
  if (address.version !== range.version) return false;
  const bits = BigInt(range.version === 4 ? 32 : 128);
  const shift = bits - BigInt(range.prefixLength);
  return address.value >> shift === range.network >> shift;
}

function parseAddress(text: string): { version: 4 | 6; value: bigint } | null {
  const address = normaliseAddress(text.trim());
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(address);
  if (v4) {
    const octets = v4.slice(1).map(Number);
    if (octets.some((octet) => octet > 255)) return null;
    return { version: 4, value: octets.reduce((value, octet) => (value << 8n) | BigInt(octet), 0n) };
  }
  if (!/^[0-9a-f:]+$/.test(address) || !address.includes(":")) return null;
  const halves = address.split("::");
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const missing = 8 - head.length - tail.length;
  if ((halves.length === 1 && missing !== 0) || (halves.length === 2 && missing < 1)) return null;
  const groups = [...head, ...Array(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  if (groups.some((group) => !/^[0-9a-f]{1,4}$/.test(group))) return null;
  return {
    version: 6,
    value: groups.reduce((value, group) => (value << 16n) | BigInt(Number.parseInt(group, 16)), 0n),
  };
}
