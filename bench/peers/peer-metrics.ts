/**
 * The peer servers' /metrics: Node's default Prometheus metrics on a port of their own, the
 * same names the groovebox services export, so one scraper reads CPU, memory and event-loop
 * delay from every server in the benchmark alike; and the peers' own fan-out time.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { FANOUT_BUCKETS } from "../../services/gateway/metrics.js";

/** The peers' fan-out histogram: start command in -> written to the last member, seconds. */
export const PEER_FANOUT_HISTOGRAM = "peer_room_fanout_seconds";

/** Serves GET /metrics on a free port; resolves with the port and the fan-out histogram to observe. */
export async function serveDefaultMetrics(): Promise<{ port: number; fanout: Histogram }> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const fanout = new Histogram({
    name: PEER_FANOUT_HISTOGRAM,
    help: "Time from a start command's arrival to its event's hand-off to the last member of the room",
    buckets: FANOUT_BUCKETS,
    registers: [registry],
  });
  const server = createServer((req, res) => {
    if (req.url !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    void registry.metrics().then((text) => res.writeHead(200, { "content-type": registry.contentType }).end(text));
  });
  const port = await new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
  return { port, fanout };
}
