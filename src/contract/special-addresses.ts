// Which hosts are public internet destinations: what an alert webhook may be sent to in
// production. A host is judged as `new URL(...).hostname` gives it, after normalising:
// - names lose their trailing dots ("localhost." is localhost) and are checked against the
//   special-use names below; a name of one label is never a public web host;
// - IPv4 is read in every form inet_aton takes (2130706433, 0x7f.1, 0177.0.0.1), although
//   WHATWG URL parsing already turns those into dotted quads;
// - an IPv6 address that carries an IPv4 address (mapped, compatible, translated, NAT64, 6to4,
//   Teredo) is judged by that IPv4 address too, so [::ffff:127.0.0.1], [64:ff9b::a9fe:a9fe]
//   and [2002:7f00:1::] are loopback and link-local, whatever their IPv6 block says.
// An address is public when the most specific block holding it is globally reachable.
// Names are not resolved: a public name pointing at a private address is not caught here.

/**
 * A special-purpose block, as IANA's registries list it; `global` is the "Globally Reachable" column (N/A
 * counts as false).
 */
interface Block {
  block: string;
  name: string;
  ref: string;
  global: boolean;
}

// The IANA IPv4 Special-Purpose Address Registry and IPv6 Special-Purpose Address Registry,
// transcribed from their 2025 editions (the IPv6 registry's newest row is 100:0:0:1::/64,
// RFC 9780; the IPv4 registry's is 192.88.99.2/32). Rows marked "not in the registry" come
// from the multicast registries and from RFCs that deprecated a block.
export const IPV4_BLOCKS: readonly Block[] = [
  { block: "0.0.0.0/8", name: "this network", ref: "RFC 791", global: false },
  { block: "0.0.0.0/32", name: "this host on this network", ref: "RFC 1122", global: false },
  { block: "10.0.0.0/8", name: "private-use", ref: "RFC 1918", global: false },
  { block: "100.64.0.0/10", name: "shared address space (CGNAT)", ref: "RFC 6598", global: false },
  { block: "127.0.0.0/8", name: "loopback", ref: "RFC 1122", global: false },
  { block: "169.254.0.0/16", name: "link-local", ref: "RFC 3927", global: false },
  { block: "172.16.0.0/12", name: "private-use", ref: "RFC 1918", global: false },
  { block: "192.0.0.0/24", name: "IETF protocol assignments", ref: "RFC 6890", global: false },
  { block: "192.0.0.0/29", name: "IPv4 service continuity prefix", ref: "RFC 7335", global: false },
  { block: "192.0.0.8/32", name: "IPv4 dummy address", ref: "RFC 7600", global: false },
  { block: "192.0.0.9/32", name: "Port Control Protocol anycast", ref: "RFC 7723", global: true },
  { block: "192.0.0.10/32", name: "TURN anycast", ref: "RFC 8155", global: true },
  { block: "192.0.0.170/32", name: "NAT64/DNS64 discovery", ref: "RFC 8880", global: false },
  { block: "192.0.0.171/32", name: "NAT64/DNS64 discovery", ref: "RFC 8880", global: false },
  { block: "192.0.2.0/24", name: "documentation (TEST-NET-1)", ref: "RFC 5737", global: false },
  { block: "192.31.196.0/24", name: "AS112-v4", ref: "RFC 7535", global: true },
  { block: "192.52.193.0/24", name: "AMT", ref: "RFC 7450", global: true },
  { block: "192.88.99.0/24", name: "deprecated 6to4 relay anycast", ref: "RFC 7526", global: false },
  { block: "192.88.99.2/32", name: "6a44 relay anycast", ref: "RFC 6751", global: false },
  { block: "192.168.0.0/16", name: "private-use", ref: "RFC 1918", global: false },
  { block: "192.175.48.0/24", name: "direct delegation AS112 service", ref: "RFC 7534", global: true },
  { block: "198.18.0.0/15", name: "benchmarking", ref: "RFC 2544", global: false },
  { block: "198.51.100.0/24", name: "documentation (TEST-NET-2)", ref: "RFC 5737", global: false },
  { block: "203.0.113.0/24", name: "documentation (TEST-NET-3)", ref: "RFC 5737", global: false },
  { block: "224.0.0.0/4", name: "multicast (not in the registry)", ref: "RFC 5771", global: false },
  { block: "240.0.0.0/4", name: "reserved", ref: "RFC 1112", global: false },
  { block: "255.255.255.255/32", name: "limited broadcast", ref: "RFC 919", global: false },
];

export const IPV6_BLOCKS: readonly Block[] = [
  { block: "::/128", name: "unspecified", ref: "RFC 4291", global: false },
  { block: "::1/128", name: "loopback", ref: "RFC 4291", global: false },
  { block: "::/96", name: "IPv4-compatible, deprecated (not in the registry)", ref: "RFC 4291", global: false },
  { block: "::ffff:0:0/96", name: "IPv4-mapped", ref: "RFC 4291", global: false },
  { block: "::ffff:0:0:0/96", name: "IPv4-translated (not in the registry)", ref: "RFC 2765", global: false },
  { block: "64:ff9b::/96", name: "IPv4-IPv6 translation (NAT64)", ref: "RFC 6052", global: true },
  { block: "64:ff9b:1::/48", name: "local-use IPv4-IPv6 translation", ref: "RFC 8215", global: false },
  { block: "100::/64", name: "discard-only", ref: "RFC 6666", global: false },
  { block: "100:0:0:1::/64", name: "dummy IPv6 prefix", ref: "RFC 9780", global: false },
  { block: "2001::/23", name: "IETF protocol assignments", ref: "RFC 2928", global: false },
  { block: "2001::/32", name: "Teredo", ref: "RFC 4380", global: false },
  { block: "2001:1::1/128", name: "Port Control Protocol anycast", ref: "RFC 7723", global: true },
  { block: "2001:1::2/128", name: "TURN anycast", ref: "RFC 8155", global: true },
  { block: "2001:1::3/128", name: "DNS-SD service registration protocol anycast", ref: "RFC 9665", global: true },
  { block: "2001:2::/48", name: "benchmarking", ref: "RFC 5180", global: false },
  { block: "2001:3::/32", name: "AMT", ref: "RFC 7450", global: true },
  { block: "2001:4:112::/48", name: "AS112-v6", ref: "RFC 7535", global: true },
  { block: "2001:10::/28", name: "deprecated (previously ORCHID)", ref: "RFC 4843", global: false },
  { block: "2001:20::/28", name: "ORCHIDv2", ref: "RFC 7343", global: true },
  { block: "2001:30::/28", name: "drone remote ID protocol entity tags", ref: "RFC 9374", global: true },
  { block: "2001:db8::/32", name: "documentation", ref: "RFC 3849", global: false },
  { block: "2002::/16", name: "6to4", ref: "RFC 3056", global: false },
  { block: "2620:4f:8000::/48", name: "direct delegation AS112 service", ref: "RFC 7534", global: true },
  { block: "3fff::/20", name: "documentation", ref: "RFC 9637", global: false },
  { block: "5f00::/16", name: "segment routing (SRv6) SIDs", ref: "RFC 9602", global: false },
  { block: "fc00::/7", name: "unique-local", ref: "RFC 4193", global: false },
  { block: "fe80::/10", name: "link-local unicast", ref: "RFC 4291", global: false },
  { block: "fec0::/10", name: "site-local, deprecated (not in the registry)", ref: "RFC 3879", global: false },
  { block: "ff00::/8", name: "multicast (not in the registry)", ref: "RFC 4291", global: false },
];

/**
 * Special-use domain names (IANA's registry, RFC 6761 and later) and `.internal`, which ICANN
 * reserved for private use in 2024. A host that is one of them or ends in one is not public.
 * All of `.arpa` is infrastructure, not web hosts (`ipv4only.arpa` even resolves to 192.0.0.170).
 */
const PRIVATE_NAMES = ["localhost", "local", "internal", "arpa", "test", "invalid", "example", "onion", "alt"] as const;

type Bytes = readonly number[];

/** An IPv4 address in any form inet_aton and WHATWG URL take: 1 to 4 parts, each decimal, 0x hex or 0 octal. */
export function parseIPv4(text: string): Bytes | null {
  const parts = text.split(".");
  if (parts.length > 4 || parts.some((p) => p === "")) return null;
  const values: number[] = [];
  for (const p of parts) {
    const m = /^(?:0x([0-9a-f]*)|(0[0-7]*)|([1-9][0-9]*))$/i.exec(p);
    if (!m) return null;
    const v =
      m[1] !== undefined
        ? m[1] === ""
          ? 0
          : Number.parseInt(m[1], 16)
        : m[2] !== undefined
          ? Number.parseInt(m[2], 8)
          : Number(m[3]);
    if (!Number.isSafeInteger(v)) return null;
    values.push(v);
  }
  // The last part fills the bytes the others left.
  const last = values.pop()!;
  if (values.some((v) => v > 255) || last >= 256 ** (4 - values.length)) return null;
  const bytes = [...values];
  for (let i = 4 - values.length - 1; i >= 0; i--) bytes.push(Math.floor(last / 256 ** i) % 256);
  return bytes;
}

/** An IPv6 address (without brackets or zone), with an optional dotted IPv4 tail, as 16 bytes. */
export function parseIPv6(text: string): Bytes | null {
  if (!/^[0-9a-f:.]+$/i.test(text)) return null;
  let tail: Bytes = [];
  let body = text;
  if (text.includes(".")) {
    const at = text.lastIndexOf(":");
    const quad = text.slice(at + 1);
    const v4 = at >= 0 && /^(?:0|[1-9]\d{0,2})(?:\.(?:0|[1-9]\d{0,2})){3}$/.test(quad) ? parseIPv4(quad) : null;
    if (!v4) return null;
    tail = v4;
    // "::1.2.3.4" keeps its "::"; "1:2:3:4:5:6:1.2.3.4" drops the colon before the quad.
    body = text.slice(0, at + 1).endsWith("::") ? text.slice(0, at + 1) : text.slice(0, at);
  }
  const halves = body.split("::");
  if (halves.length > 2) return null;
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  const missing = 8 - tail.length / 2 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...rest];
  if (all.some((g) => !/^[0-9a-f]{1,4}$/i.test(g))) return null;
  return [...all.flatMap((g) => [Number.parseInt(g, 16) >> 8, Number.parseInt(g, 16) & 255]), ...tail];
}

/** The CIDR text "a/n" as bytes and prefix length. */
function cidr(text: string): { bytes: Bytes; bits: number } {
  const [address, bits] = text.split("/") as [string, string];
  return { bytes: (address.includes(":") ? parseIPv6(address) : parseIPv4(address))!, bits: Number(bits) };
}

const within = (address: Bytes, net: { bytes: Bytes; bits: number }): boolean => {
  for (let bit = 0; bit < net.bits; bit++) {
    const mask = 0x80 >> (bit % 8);
    if ((address[bit >> 3]! & mask) !== (net.bytes[bit >> 3]! & mask)) return false;
  }
  return true;
};

const TABLE = {
  4: IPV4_BLOCKS.map((b) => ({ ...b, net: cidr(b.block) })),
  6: IPV6_BLOCKS.map((b) => ({ ...b, net: cidr(b.block) })),
};

/** The most specific special-purpose block holding the address, if any. */
export function specialBlock(address: Bytes): Block | null {
  let best: (typeof TABLE)[4][number] | null = null;
  for (const b of TABLE[address.length === 4 ? 4 : 6])
    if (within(address, b.net) && (!best || b.net.bits > best.net.bits)) best = b;
  return best && { block: best.block, name: best.name, ref: best.ref, global: best.global };
}

const startsWith = (address: Bytes, prefix: Bytes) => prefix.every((b, i) => address[i] === b);
const ZEROS_80 = Array<number>(10).fill(0);

/** The IPv4 address an IPv6 address carries, and how: mapped, compatible, translated, NAT64, 6to4 or Teredo. */
export function embeddedIPv4(v6: Bytes): { v4: Bytes; as: string } | null {
  const last32 = v6.slice(12, 16);
  if (startsWith(v6, [...ZEROS_80, 0xff, 0xff])) return { v4: last32, as: "IPv4-mapped" };
  if (startsWith(v6, [...ZEROS_80.slice(0, 8), 0xff, 0xff, 0, 0])) return { v4: last32, as: "IPv4-translated" };
  // ::/96, but for ::0.0.0.x (:: and ::1 are addresses of their own); the ::/96 row refuses those.
  if (startsWith(v6, [...ZEROS_80, 0, 0]) && !startsWith(last32, [0, 0, 0]))
    return { v4: last32, as: "IPv4-compatible" };
  if (startsWith(v6, [0, 0x64, 0xff, 0x9b, ...ZEROS_80.slice(0, 8)])) return { v4: last32, as: "NAT64" };
  // 64:ff9b:1::/48 (RFC 8215) may embed at any RFC 6052 length; /96 is the common one.
  if (startsWith(v6, [0, 0x64, 0xff, 0x9b, 0, 1])) return { v4: last32, as: "local-use NAT64" };
  if (startsWith(v6, [0x20, 0x02])) return { v4: v6.slice(2, 6), as: "6to4" };
  // Teredo: 2001:0::/32, the client's address in the last 32 bits, each bit inverted.
  if (startsWith(v6, [0x20, 0x01, 0, 0])) return { v4: last32.map((b) => b ^ 0xff), as: "Teredo" };
  return null;
}

const showV4 = (v4: Bytes) => v4.join(".");
const blockText = (b: Block) => `${b.block}, ${b.name} (${b.ref})`;

/**
 * Why a URL's host is not a public internet destination, or null when it is. `hostname` is
 * what URL.hostname gives: a name, a dotted IPv4 address, or an IPv6 address in brackets.
 */
export function nonPublicHost(hostname: string): string | null {
  const host = hostname.toLowerCase().replace(/\.+$/, "");
  if (host === "") return "the host is empty";
  if (host.startsWith("[") || host.includes(":")) {
    const v6 = parseIPv6(host.replace(/^\[|\]$/g, ""));
    if (!v6) return `${hostname} is not an IPv6 address`;
    const carried = embeddedIPv4(v6);
    const inner = carried && specialBlock(carried.v4);
    if (carried && inner && !inner.global)
      return `${hostname} carries ${showV4(carried.v4)} (${carried.as}), in ${blockText(inner)}`;
    const outer = specialBlock(v6);
    if (outer && !outer.global) return `${hostname} is in ${blockText(outer)}`;
    // Outside 2000::/3 nothing is allocated for global unicast, save the rows above.
    if (!outer && (v6[0]! & 0xe0) !== 0x20) return `${hostname} is outside the global unicast space 2000::/3`;
    return null;
  }
  const v4 = parseIPv4(host);
  if (v4) {
    const block = specialBlock(v4);
    return block && !block.global ? `${showV4(v4)} is in ${blockText(block)}` : null;
  }
  // A name made only of digits, dots and hex that is not an address is no public name either.
  if (/^(?:\d+|0x[0-9a-f]*)$/i.test(host.split(".").pop()!)) return `${hostname} is neither a name nor an IPv4 address`;
  const special = PRIVATE_NAMES.find((n) => host === n || host.endsWith(`.${n}`));
  if (special) return `${hostname} is under .${special}, a special-use name`;
  if (!host.includes(".")) return `${hostname} is a single-label name, resolved only on local networks`;
  return null;
}
