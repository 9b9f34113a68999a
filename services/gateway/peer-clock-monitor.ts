import { createClient, type Transport } from "@connectrpc/connect";
import { Gauge, type Registry } from "prom-client";
import { ClockService } from "../../gen/groovebox/clock/v1/clock_pb.js";
import type { ClockSource } from "../common/clock-source.js";
import type { Logger } from "../common/logger.js";
import { measurePeerOffsets, type PingFn } from "../clock/peer-offset.js";

/**
 * Measures, every `intervalMs`, how far the clocks of the services behind the gateway are from
 * its own (the gateway stamps pongs, the playback service start times: they must agree), and
 * publishes it on /metrics. Min-RTT Ping bursts over the internal connections, as
 * `npm run clock:check` does from outside, with the gateway's own port as the reference: a
 * unary call spends longer before t1 than after t2 (about 0.1 ms here), and pinging itself the
 * same way cancels that.
 */
export function createPeerClockMonitor(deps: {
  peers: Record<string, Transport>;
  clock: ClockSource;
  registry: Registry;
  logger: Logger;
  intervalMs: number;
  rounds?: number;
}) {
  const offset = new Gauge({
    name: "groovebox_clock_peer_offset_ms",
    help: "A service's clock minus the gateway's, ms: median of min-RTT Ping bursts",
    labelNames: ["peer"],
    registers: [deps.registry],
  });
  const minRtt = new Gauge({
    name: "groovebox_clock_peer_min_rtt_ms",
    help: "The smallest Ping round trip to a service in the last check, ms (the offset's error is at most half of it)",
    labelNames: ["peer"],
    registers: [deps.registry],
  });
  const errorBound = new Gauge({
    name: "groovebox_clock_peer_offset_error_ms",
    help: "How far the offset can be from the truth, ms: half the longest round trip behind it",
    labelNames: ["peer"],
    registers: [deps.registry],
  });
  const pinger = (transport: Transport): PingFn => {
    const client = createClient(ClockService, transport);
    return (clientSendTimeMs) => client.ping({ clientSendTimeMs }, { timeoutMs: 1000 });
  };
  const targets = Object.fromEntries(Object.entries(deps.peers).map(([name, t]) => [name, pinger(t)]));
  let self: PingFn | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running = false;

  async function check(): Promise<void> {
    if (running || !self) return;
    running = true;
    try {
      const results = await measurePeerOffsets({ reference: self, targets, now: () => deps.clock.now(), rounds: deps.rounds ?? 10, pingsPerBurst: 8 });
      for (const [peer, r] of Object.entries(results)) {
        offset.set({ peer }, r.offsetMs);
        minRtt.set({ peer }, r.minRttMs);
        errorBound.set({ peer }, r.errorBoundMs);
      }
    } catch (err) {
      deps.logger.debug({ err }, "peer clock check failed");
    } finally {
      running = false;
    }
  }

  return {
    /** Starts checking, with `selfTransport` (to the gateway's own port) as the reference. */
    start(selfTransport: Transport): void {
      self = pinger(selfTransport);
      if (deps.intervalMs <= 0) return;
      timer = setInterval(() => void check(), deps.intervalMs);
      timer.unref();
      void check();
    },
    stop(): void {
      clearInterval(timer);
    },
  };
}
