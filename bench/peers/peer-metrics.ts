/**
 * The peer servers' /metrics: Node's default Prometheus metrics on a port of their own, the
 * same names the groovebox services export, so one scraper reads CPU, memory and event-loop
 * delay from every server in the benchmark alike.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Registry, collectDefaultMetrics } from "prom-client";

/** Serves GET /metrics on a free port; resolves with the port. */
export function serveDefaultMetrics(): Promise<number> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const server = createServer((req, res) => {
    if (req.url !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    void registry.metrics().then((text) => res.writeHead(200, { "content-type": registry.contentType }).end(text));
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}
