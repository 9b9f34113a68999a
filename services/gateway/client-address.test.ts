import { clientAddress } from "./client-address.js";

describe("the client address of a call", () => {
  const proxies = new Set(["10.0.0.5", "10.0.0.6"]);

  it("is the connection's peer when the peer is not a trusted proxy: X-Forwarded-For from a client is ignored", () => {
    expect(clientAddress("198.51.100.9", "203.0.113.7", proxies)).toBe("198.51.100.9");
    expect(clientAddress("::ffff:198.51.100.9", null, proxies)).toBe("198.51.100.9");
    expect(clientAddress("", "203.0.113.7", proxies)).toBe("unknown"); // the connection is gone
  });

  it("is read from X-Forwarded-For, right to left, past trusted proxies only", () => {
    expect(clientAddress("10.0.0.5", "203.0.113.7", proxies)).toBe("203.0.113.7");
    // The client put a fake address first; the proxies appended what they saw.
    expect(clientAddress("10.0.0.5", "1.2.3.4, 203.0.113.7, 10.0.0.6", proxies)).toBe("203.0.113.7");
    // A malformed entry stops the walk at the last address a proxy vouched for.
    expect(clientAddress("10.0.0.5", "203.0.113.7, junk", proxies)).toBe("10.0.0.5");
  });

  it("counts IPv6 clients by their /64 network", () => {
    expect(clientAddress("2001:db8:0:1::abcd", null, proxies)).toBe("2001:db8:0:1::/64");
    expect(clientAddress("2001:db8:0:1:ffff:1:2:3", null, proxies)).toBe("2001:db8:0:1::/64");
    expect(clientAddress("::1", null, proxies)).toBe("0:0:0:0::/64");
  });
});
