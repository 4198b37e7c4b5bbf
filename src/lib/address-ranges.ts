/**
 * IP addresses and ranges (IPv4 and IPv6, single addresses or CIDR) as Node reads them: `net.isIP` tells an address
 * from anything else and `net.BlockList` holds the ranges, so no address arithmetic is written here. Used for the
 * trusted proxies (http/client-ip.ts) and for a key's `ip_allowlist`. node:net is loaded when an address or range is
 * first read (about 5 ms of every start otherwise): a server without trusted proxies or allowlists never reads one.
 */
import type * as Net from "node:net";

let netModule: typeof Net | undefined;
const net = () => (netModule ??= process.getBuiltinModule("node:net"));

export interface AddressRanges {
  has(address: string): boolean;
}

/** The ranges of `entries`, or the entries that are neither an address nor a CIDR range. */
export function parseAddressRanges(
  entries: readonly string[],
): { ok: true; ranges: AddressRanges } | { ok: false; bad: string[] } {
  const list = new (net().BlockList)();
  const bad = entries.filter((entry) => !addRange(list, entry));
  if (bad.length > 0) return { ok: false, bad };
  return {
    ok: true,
    ranges: {
      has: (address) => {
        const family = familyOf(address);
        return family !== null && list.check(normaliseAddress(address), family);
      },
    },
  };
}

/** Whether `text` is one IPv4 or IPv6 address (no range, no zone). */
export function isAddress(text: string): boolean {
  return familyOf(text) !== null;
}

/** IPv4-mapped IPv6 (::ffff:a.b.c.d) is the IPv4 address it carries; IPv6 is compared in lower case. */
export function normaliseAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1]! : address.toLowerCase();
}

function familyOf(address: string): "ipv4" | "ipv6" | null {
  // A zone (fe80::1%eth0) names an interface of one machine: no allowlist or proxy list can mean it.
  if (address.includes("%")) return null;
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
