import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { parseCorsOrigins, withCors, type CorsOrigins } from "./cors.js";

describe("withCors", () => {
  async function serve(origins: CorsOrigins, run: (url: string) => Promise<void>) {
    const server = http.createServer(withCors(origins, (_req, res) => res.end("ok")) as http.RequestListener);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      await run(`http://127.0.0.1:${(server.address() as AddressInfo).port}/x`);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  }

  it("allows any origin with *, without Vary", async () => {
    await serve("*", async (url) => {
      const pre = await fetch(url, { method: "OPTIONS", headers: { origin: "https://a.example", "access-control-request-method": "POST" } });
      expect(pre.status).toBe(204);
      expect(pre.headers.get("access-control-allow-origin")).toBe("*");
      const res = await fetch(url, { method: "POST", headers: { origin: "https://b.example" } });
      expect(res.headers.get("access-control-allow-origin")).toBe("*");
      expect(res.headers.get("timing-allow-origin")).toBe("*");
      expect(res.headers.get("vary")).toBeNull();
    });
  });

  it("passes OPTIONS that is not a preflight on", async () => {
    await serve([], async (url) => {
      const res = await fetch(url, { method: "OPTIONS", headers: { origin: "https://a.example" } });
      expect(await res.text()).toBe("ok");
    });
  });
});

describe("parseCorsOrigins", () => {
  it("reads *, and lists of origins", () => {
    expect(parseCorsOrigins(" * ")).toBe("*");
    expect(parseCorsOrigins("https://app.example, http://localhost:5173/,")).toEqual(["https://app.example", "http://localhost:5173"]);
  });

  it.each(["app.example", "https://app.example/path", "ftp://app.example", "https://app.example?x=1"])("rejects %s", (raw) => {
    expect(() => parseCorsOrigins(raw)).toThrow(/not an origin/);
  });
});
