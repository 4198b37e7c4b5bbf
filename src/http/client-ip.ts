/**
 * The client's address: the socket's peer, unless that peer is a configured trusted proxy, in which case
 * X-Forwarded-For is read from the right, skipping trusted proxies, and the first other address is the client.
 * Without trusted proxies X-Forwarded-For is ignored entirely (anyone can write it).
 *
 * Addresses and ranges are read by lib/address-ranges.ts (Node's own isIP and BlockList).
 */
import { isAddress, normaliseAddress, parseAddressRanges } from "../lib/address-ranges.ts";

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
  // Without trusted proxies no address is ever looked at (and node:net need not load: see lib/address-ranges.ts).
  if (entries.length === 0) return { ok: true, proxies: NO_TRUSTED_PROXIES };
  const parsed = parseAddressRanges(entries);
  return parsed.ok ? { ok: true, proxies: parsed.ranges } : parsed;
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
    if (!isAddress(hop)) return peer;
    const address = normaliseAddress(hop);
    if (!trusted.has(address)) return address;
  }
  return peer;
}
