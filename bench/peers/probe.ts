/**
 * Loaded into every server under test of the peer benchmark (`node --import probe.js`), the
 * gateway and the peers alike, so each is measured from inside the same way. On
 * BENCH_PROBE_PORT it serves:
 *  - GET /loop/start: starts a 1 ms event-loop delay histogram (perf_hooks). prom-client's
 *    event-loop lag samples every 10 ms, too coarse for how long a ping waits before its t1
 *    stamp or a pong after its t2 stamp; the timer runs only between start and stop, so it
 *    costs nothing in the other windows;
 *  - GET /loop/stop: stops it; JSON p50, p99 and max of the delay in ms (the timer's own
 *    interval taken off);
 *  - GET /memory: a full garbage collection, then process.memoryUsage() in bytes, so heap
 *    figures are live objects rather than whatever garbage the last window left.
 */
import { createServer } from "node:http";
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

const RESOLUTION_MS = 1;

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

let loop: IntervalHistogram | undefined;

const handlers: Record<string, () => object> = {
  "/loop/start": () => {
    loop?.disable();
    loop = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    loop.enable();
    return {};
  },
  "/loop/stop": () => {
    if (loop === undefined) return {};
    loop.disable();
    const ms = (ns: number) => Math.max(0, ns / 1e6 - RESOLUTION_MS);
    const result = { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max) };
    loop = undefined;
    return result;
  },
  "/memory": () => {
    gc();
    gc();
    return process.memoryUsage();
  },
};

const port = Number(process.env.BENCH_PROBE_PORT);
if (port > 0) {
  const server = createServer((req, res) => {
    const handle = handlers[req.url ?? ""];
    if (handle === undefined) res.writeHead(404).end();
    else res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(handle()));
  });
  server.listen(port, "127.0.0.1");
  // The probe never keeps a server alive on its own.
  server.unref();
}
