import * as http from "node:http";
import type * as net from "node:net";
import type { Registry } from "prom-client";
import { ServingStatus, type HealthRegistry } from "./health.js";
import type { Logger } from "./logger.js";

/**
 * The operators' port of a service: GET /healthz (200 SERVING or 503, JSON) for probes and
 * GET /metrics (Prometheus text) for scraping. It is a separate plain HTTP/1.1 listener so
 * that it can stay off the public network: the public port serves clients only (plus
 * grpc.health.v1, which load balancers probe on the traffic port). Bind it to loopback or a
 * private interface (OPERATOR_HOST).
 */
export function createOperatorServer(opts: {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  health: HealthRegistry;
  metrics: Registry;
  logger: Logger;
}) {
  const server = http.createServer({ requestTimeout: 10_000, headersTimeout: 5000 }, (req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (req.method === "GET" && path === "/healthz") {
      const serving = opts.health.status("") === ServingStatus.SERVING;
      res.writeHead(serving ? 200 : 503, { "content-type": "application/json" });
      res.end(JSON.stringify({ status: serving ? "SERVING" : "NOT_SERVING" }));
      return;
    }
    if (req.method === "GET" && path === "/metrics") {
      opts.metrics.metrics().then(
        (text) => {
          res.writeHead(200, { "content-type": opts.metrics.contentType });
          res.end(text);
        },
        (err: unknown) => {
          opts.logger.warn({ err }, "metrics collection failed");
          res.writeHead(500);
          res.end();
        },
      );
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("not found: GET /healthz or /metrics\n");
  });
  server.keepAliveTimeout = 5000;
  let port = 0;
  return {
    /** Listens; resolves with the port. */
    start: () =>
      new Promise<number>((resolve, reject) => {
        server.once("error", reject);
        server.listen(opts.port, opts.host, () => {
          server.off("error", reject);
          port = (server.address() as net.AddressInfo).port;
          resolve(port);
        });
      }),
    /** The port it listens on (after start). */
    port: () => port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
