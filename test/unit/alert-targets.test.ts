// Where alert webhooks may go: public https only, except in local development.
import { describe, expect, it } from "vitest";
import { targetProblem } from "../../src/contract/alerts";
import {
  embeddedIPv4,
  IPV4_BLOCKS,
  IPV6_BLOCKS,
  nonPublicHost,
  parseIPv4,
  parseIPv6,
  specialBlock,
} from "../../src/contract/special-addresses";

const refused = (url: string) => expect(targetProblem(url, false), url).not.toBeNull();
const taken = (url: string) => expect(targetProblem(url, false), url).toBeNull();

describe("alert webhook targets", () => {
  it("take public https URLs in production", () => {
    for (const url of [
      "https://hooks.slack.com/services/T0/B0/x",
      "https://hooks.slack.com./services/T0/B0/x",
      "https://example.com:8443/fleet?x=1",
      "https://8.8.8.8/hook",
      "https://[2606:4700:4700::1111]/hook",
      // NAT64 of a public address is as public as the address it carries.
      "https://[64:ff9b::808:808]/hook",
    ])
      taken(url);
  });

  it("refuse plain http, localhost, private and link-local addresses, and credentials in production", () => {
    for (const url of [
      "http://example.com/hook",
      "https://localhost/hook",
      "https://api.localhost/hook",
      "https://printer.local/hook",
      "https://metadata.internal/hook",
      "https://127.0.0.1/hook",
      "https://10.1.2.3/hook",
      "https://172.16.0.1/hook",
      "https://172.31.255.255/hook",
      "https://192.168.1.10/hook",
      "https://169.254.169.254/latest/meta-data",
      "https://100.64.0.1/hook",
      "https://0.0.0.0/hook",
      "https://[::1]/hook",
      "https://[fd00::1]/hook",
      "https://[fe80::1]/hook",
      "https://[::ffff:10.0.0.1]/hook",
      "https://user:pass@example.com/hook",
      "ftp://example.com/hook",
    ])
      refused(url);
    // 172.32/12 is public.
    taken("https://172.32.0.1/hook");
  });

  it("refuse names with a trailing dot as the names they are", () => {
    for (const url of [
      "https://localhost./",
      "https://foo.localhost./hook",
      "https://metadata.google.internal./computeMetadata/v1/",
      "https://printer.local./",
      "https://localhost../",
    ])
      refused(url);
  });

  it("refuse IPv6 forms of private IPv4 addresses: mapped, compatible, translated, NAT64, 6to4 and Teredo", () => {
    for (const url of [
      "https://[::7f00:1]/",
      "https://[::127.0.0.1]/",
      "https://[::ffff:127.0.0.1]/",
      "https://[::ffff:0:a9fe:a9fe]/",
      "https://[64:ff9b::a9fe:a9fe]/",
      "https://[64:ff9b::169.254.169.254]/",
      "https://[64:ff9b:1::a00:1]/",
      "https://[2002:7f00:1::]/",
      "https://[2002:a9fe:a9fe::1]/",
      // Teredo carries the client's address with every bit inverted: 127.0.0.1 is 80ff:fffe.
      "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
    ])
      refused(url);
    expect(targetProblem("https://[64:ff9b::a9fe:a9fe]/", false)).toContain(
      "169.254.169.254 (NAT64), in 169.254.0.0/16, link-local",
    );
  });

  it("refuse the other special-purpose blocks: site-local, benchmarking, documentation, multicast, reserved, broadcast", () => {
    for (const url of [
      "https://[fec0::1]/",
      "https://198.18.0.1/",
      "https://198.19.255.255/",
      "https://192.0.2.1/",
      "https://203.0.113.9/",
      "https://224.0.0.1/",
      "https://239.255.255.250/",
      "https://240.0.0.1/",
      "https://255.255.255.255/",
      "https://192.0.0.170/",
      "https://[::]/",
      "https://[100::1]/",
      "https://[2001:db8::1]/",
      "https://[2001:2::1]/",
      "https://[3fff::1]/",
      "https://[5f00::1]/",
      "https://[ff02::1]/",
      "https://[ff0e::1]/",
      // Nothing outside 2000::/3 is allocated for global unicast.
      "https://[4000::1]/",
    ])
      refused(url);
    expect(targetProblem("https://198.18.0.1/", false)).toContain("198.18.0.0/15, benchmarking");
    // 198.20/16 is past the benchmarking /15.
    taken("https://198.20.0.1/");
  });

  it("refuse decimal, octal, hex and short IPv4 forms, which URL parsing turns into dotted quads", () => {
    for (const [url, host] of [
      ["https://2130706433/", "127.0.0.1"],
      ["https://0x7f.1/", "127.0.0.1"],
      ["https://0177.0.0.1/", "127.0.0.1"],
      ["https://127.1/", "127.0.0.1"],
      ["https://0/", "0.0.0.0"],
      ["https://0xa9.0xfe.0xa9.0xfe/", "169.254.169.254"],
    ] as const) {
      expect(new URL(url).hostname).toBe(host);
      refused(url);
      // And the same forms are read as addresses without URL's help.
      expect(nonPublicHost(new URL(url).hostname)).not.toBeNull();
    }
  });

  it("refuse single-label and special-use names", () => {
    for (const url of [
      "https://metadata/computeMetadata/v1/",
      "https://printer/",
      "https://router.home.arpa/",
      "https://ipv4only.arpa/",
      "https://ci.test/",
      "https://x.invalid/",
      "https://abc.onion/",
    ])
      refused(url);
  });

  it("take http and local addresses in local development", () => {
    expect(targetProblem("http://127.0.0.1:9999/hook", true)).toBeNull();
    expect(targetProblem("http://localhost/hook", true)).toBeNull();
    expect(targetProblem("http://[::ffff:127.0.0.1]/hook", true)).toBeNull();
    expect(targetProblem("ftp://localhost/hook", true)).not.toBeNull();
  });
});

describe("special-purpose addresses", () => {
  it("read IPv4 in every form inet_aton takes", () => {
    expect(parseIPv4("127.0.0.1")).toEqual([127, 0, 0, 1]);
    expect(parseIPv4("2130706433")).toEqual([127, 0, 0, 1]);
    expect(parseIPv4("0x7f.1")).toEqual([127, 0, 0, 1]);
    expect(parseIPv4("0177.0.0.01")).toEqual([127, 0, 0, 1]);
    expect(parseIPv4("10.1.0x102")).toEqual([10, 1, 1, 2]);
    expect(parseIPv4("0xffffffff")).toEqual([255, 255, 255, 255]);
    for (const bad of [
      "256.0.0.1",
      "1.2.3.4.5",
      "0x100000000",
      "1.2.3.256",
      "08.0.0.1",
      "1..2",
      "",
      "example.com",
      "1.2.3.4.",
    ])
      expect(parseIPv4(bad), bad).toBeNull();
  });

  it("read IPv6, compressed or not, with a dotted IPv4 tail or not", () => {
    const loop = [...Array<number>(15).fill(0), 1];
    expect(parseIPv6("::1")).toEqual(loop);
    expect(parseIPv6("0:0:0:0:0:0:0:1")).toEqual(loop);
    expect(parseIPv6("::0.0.0.1")).toEqual(loop);
    expect(parseIPv6("::ffff:127.0.0.1")).toEqual(parseIPv6("::ffff:7f00:1"));
    expect(parseIPv6("64:ff9b::169.254.169.254")).toEqual(parseIPv6("64:ff9b::a9fe:a9fe"));
    expect(parseIPv6("1:2:3:4:5:6:1.2.3.4")).toEqual(parseIPv6("1:2:3:4:5:6:102:304"));
    expect(parseIPv6("2001:DB8::")).toEqual([0x20, 0x01, 0x0d, 0xb8, ...Array<number>(12).fill(0)]);
    for (const bad of [
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:8:9",
      "1::2::3",
      ":1",
      "1:::2",
      "12345::",
      "::ffff:1.2.3",
      "::1.2.3.04",
      "g::",
      "1:2:3:4:5:6:7:1.2.3.4",
    ])
      expect(parseIPv6(bad), bad).toBeNull();
  });

  it("find the IPv4 address an IPv6 address carries", () => {
    const of = (v6: string) => {
      const e = embeddedIPv4(parseIPv6(v6)!);
      return e && `${e.v4.join(".")} ${e.as}`;
    };
    expect(of("::ffff:7f00:1")).toBe("127.0.0.1 IPv4-mapped");
    expect(of("::ffff:0:a00:1")).toBe("10.0.0.1 IPv4-translated");
    expect(of("::7f00:1")).toBe("127.0.0.1 IPv4-compatible");
    expect(of("64:ff9b::a9fe:a9fe")).toBe("169.254.169.254 NAT64");
    expect(of("64:ff9b:1::c0a8:1")).toBe("192.168.0.1 local-use NAT64");
    expect(of("2002:7f00:1::")).toBe("127.0.0.1 6to4");
    expect(of("2001:0:4136:e378:8000:63bf:3fff:fdd2")).toBe("192.0.2.45 Teredo");
    expect(of("::1")).toBeNull();
    expect(of("2606:4700::1111")).toBeNull();
  });

  it("answer the most specific block, with its reachability", () => {
    expect(specialBlock(parseIPv4("192.0.0.9")!)).toMatchObject({ block: "192.0.0.9/32", global: true });
    expect(specialBlock(parseIPv4("192.0.0.1")!)).toMatchObject({ block: "192.0.0.0/29", global: false });
    expect(specialBlock(parseIPv6("2001:1::1")!)).toMatchObject({ block: "2001:1::1/128", global: true });
    expect(specialBlock(parseIPv6("2001:1::4")!)).toMatchObject({ block: "2001::/23", global: false });
    expect(specialBlock(parseIPv4("8.8.8.8")!)).toBeNull();
  });

  it("keep a table whose every row is a network address of its family", () => {
    for (const [rows, parse, bytes] of [
      [IPV4_BLOCKS, parseIPv4, 4],
      [IPV6_BLOCKS, parseIPv6, 16],
    ] as const) {
      for (const row of rows) {
        const [address, bits] = row.block.split("/") as [string, string];
        const parsed = parse(address);
        expect(parsed, row.block).toHaveLength(bytes);
        // No bit past the prefix length is set.
        const n = Number(bits);
        const hostBits = (i: number) => (i * 8 >= n ? 0xff : (i + 1) * 8 <= n ? 0 : 0xff >> (n - i * 8));
        expect(
          parsed!.map((b, i) => b & hostBits(i)),
          row.block,
        ).toEqual(Array<number>(bytes).fill(0));
      }
    }
  });
});
