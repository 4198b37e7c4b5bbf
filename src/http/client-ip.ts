/**
 * The client's address: the socket's peer, unless that peer is a configured trusted proxy, in which case
 * X-Forwarded-For is read from the right, skipping trusted proxies, and the first other address is the client.
 * Without trusted proxies X-Forwarded-For is ignored entirely (anyone can write it).
 *
 * Addresses and ranges are Node's own: `net.isIP` tells an address from anything else and `net.BlockList` holds the
 * trusted ranges (IPv4 and IPv6, CIDR or single addresses), so no address arithmetic is written here. node:net is
 * loaded when the first trusted proxy is read (~5 ms of every start otherwise): without trusted proxies no address is
 * ever looked at.
 */
import type * as Net from "node:net";

let netModule: typeof Net | undefined;
const net = () => (netModule ??= process.getBuiltinModule("node:net"));

export interface TrustedProxies {
  has(address: string): boolean;
}

export function parseTrustedProxies(
  text: string,
): { ok: true; proxies: TrustedProxies } | { ok: false; bad: string[] } {
  const entries = text
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
  if (entries.length === 0) return { ok: true, proxies: NO_TRUSTED_PROXIES };
  const ranges = new (net().BlockList)();
  const bad = entries.filter((entry) => !addRange(ranges, entry));
  if (bad.length > 0) return { ok: false, bad };
  return {
    ok: true,
    proxies: {
      has: (address) => {
        const family = familyOf(address);
        return family !== null && ranges.check(normaliseAddress(address), family);
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
    if (familyOf(hop) === null) return peer;
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

function familyOf(address: string): "ipv4" | "ipv6" | null {
  const version = net().isIP(normaliseAddress(address.trim()));
  if (version === 0) return null;
  return version === 4 ? "ipv4" : "ipv6";
}

/** Adds one entry (an address, or a CIDR range) to the list; false when it is neither. */
function addRange(ranges: Net.BlockList, entry: string): boolean {
  const [addressText = "", prefixText, extra] = entry.split("/");
  const family = familyOf(addressText);
  if (family === null || extra !== undefined) return false;
  const address = normaliseAddress(addressText);
  if (prefixText === undefined) {
    ranges.addAddress(address, family);
    return true;
  }
  const prefixLength = Number(prefixText);
  const maxPrefix = family === "ipv4" ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefixText) || prefixLength > maxPrefix) return false;
  ranges.addSubnet(address, prefixLength, family);
  return true;
}
