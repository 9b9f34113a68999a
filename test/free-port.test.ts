import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { freePort } from "../scripts/local-redis.js";

describe("freePort", () => {
  it("gives ports below the system's ephemeral range that can be listened on, not the same one each time", async () => {
    const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    const ports = [];
    for (let i = 0; i < 5; i++) ports.push(await freePort());
    for (const port of ports) {
      expect(port).toBeLessThan(low);
      const server = createServer();
      await new Promise<void>((resolve, reject) => server.once("error", reject).listen(port, "127.0.0.1", resolve));
      await new Promise((resolve) => server.close(resolve));
    }
    expect(new Set(ports).size).toBeGreaterThan(1);
  });
});
