import { isIP } from "node:net";

/**
 * The address a request comes from, for per-address limits. The peer of the TCP connection,
 * unless that peer is one of `trustedProxies` (a load balancer in front of the gateway): then
 * X-Forwarded-For is read from the right, each trusted proxy having appended the address it
 * saw, and the first address not of a trusted proxy is the client. A client cannot pick its
 * address by sending the header itself: from an untrusted peer the header is ignored, and a
 * malformed entry stops the walk at the last address vouched for.
 *
 * IPv6 clients are keyed by their /64 network: one host usually has a whole /64 and could
 * otherwise take a fresh address for every request. A connection whose address is gone (the
 * client left while the call was starting) counts as "unknown".
 */
export function clientAddress(peer: string, forwardedFor: string | null, trustedProxies: ReadonlySet<string>): string {
  let address = normalize(peer);
  if (forwardedFor && trustedProxies.has(address)) {
    const hops = forwardedFor.split(",");
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = normalize(hops[i]!.trim());
      if (isIP(hop) === 0) break;
      address = hop;
      if (!trustedProxies.has(hop)) break;
    }
  }
  if (address === "") return "unknown";
  return isIP(address) === 6 ? ipv6Network(address) : address;
}

/** IPv4-mapped IPv6 ("::ffff:1.2.3.4") as plain IPv4. */
function normalize(address: string): string {
  return address.toLowerCase().replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, "$1");
}

/** The /64 network of an IPv6 address, written "2001:db8:0:1::/64". */
function ipv6Network(address: string): string {
  const [head, tail = ""] = address.split("::") as [string, string?];
  const left = head === "" ? [] : head.split(":");
  const right = tail === "" ? [] : tail.split(":");
  const groups = [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  return `${groups.slice(0, 4).map((g) => Number.parseInt(g, 16).toString(16)).join(":")}::/64`;
}
