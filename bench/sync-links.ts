/**
 * A worker process of bench:sync: one delay proxy per simulated device (its link to the
 * gateway), all in this process, away from the devices' and the services' event loops.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import { startDelayProxy, type DelayProxy, type LinkProfile } from "./delay-proxy.js";

export type LinksCommand =
  | { kind: "start"; target: { host: string; port: number }; links: Array<{ profile: LinkProfile; seed: number }> }
  | { kind: "collect" };

const proxies: DelayProxy[] = [];
// The benchmark is gone (it ended or was killed): so is this worker.
process.on("disconnect", () => process.exit(0));
const loop = monitorEventLoopDelay({ resolution: 10 });
const cpuStart = process.cpuUsage();

process.on("message", async (m: LinksCommand) => {
  if (m.kind === "start") {
    loop.enable();
    for (const link of m.links) proxies.push(await startDelayProxy({ target: m.target, profile: link.profile, seed: link.seed }));
    process.send!({ kind: "ready", ports: proxies.map((p) => p.port) });
    return;
  }
  const cpu = process.cpuUsage(cpuStart);
  await Promise.all(proxies.map((p) => p.close()));
  const stats = {
    kind: "records",
    cpuMs: (cpu.user + cpu.system) / 1000,
    // The histogram's values include its 10 ms sampling interval.
    eventLoopDelayMs: { p50: loop.percentile(50) / 1e6 - 10, p99: loop.percentile(99) / 1e6 - 10, max: loop.max / 1e6 - 10 },
  };
  process.send!(stats, () => process.exit(0));
});
