/**
 * npm run bench:ping -- [--streams=1000] [--rate=2] [--seconds=20] [--saturate-seconds=10] [--connections=0]
 *
 * N authenticated Connect streams (over gRPC, from a lean HTTP/2 client so that the client
 * side costs little) ping a gateway that runs in its own process. By default each
 * stream has its own HTTP/2 connection, like N devices; --connections=K multiplexes them over
 * K connections instead (separates per-connection from per-stream cost). Measures:
 *  - gateway memory per idle stream (RSS and heap deltas after the streams open),
 *  - steady load at `rate` pings/s per stream: pong turnaround (t2 - t1, the gateway's own
 *    stamps), client-seen RTT, gateway CPU per ping,
 *  - saturation: every stream pings again as soon as its pong arrives: pings/s in total.
 * Results go to bench/results/ping.json.
 */
import type { ClientHttp2Session } from "node:http2";
import { intArgs, loginGuests, now, round, runBench, scrapeMetrics, sleep, startBenchStack, summarize, writeResults } from "./harness.js";
import { LeanStream, leanConnection } from "./lean-client.js";

const opts = intArgs({ streams: 1000, rate: 2, seconds: 20, "saturate-seconds": 10, "streams-per-user": 10, connections: 0 });

interface Recorder {
  rtt: number[];
  turnaround: number[];
  pongs: number;
}

/** One device's stream: pings on demand, reports the previous pong like a real client. */
class PingStream {
  private readonly stream: LeanStream;
  private seq = 0n;
  private prev: { seq: bigint; clientReceiveTimeMs: number } | undefined;
  private readonly sent = new Map<bigint, number>();
  recorder: Recorder | undefined;
  onPong: (() => void) | undefined;
  readonly ready: Promise<void>;

  constructor(connection: ClientHttp2Session, token: string) {
    let markReady!: () => void;
    this.ready = new Promise((r) => (markReady = r));
    this.stream = new LeanStream(connection, "Connect", token, (msg) => {
      if (msg.message.case === "hello") markReady();
      if (msg.message.case !== "pong") return;
      const t3 = now();
      const pong = msg.message.value;
      const t0 = this.sent.get(pong.seq);
      this.sent.delete(pong.seq);
      this.prev = { seq: pong.seq, clientReceiveTimeMs: t3 };
      if (this.recorder && t0 !== undefined) {
        this.recorder.rtt.push(t3 - t0);
        this.recorder.turnaround.push(pong.serverSendTimeMs - pong.serverReceiveTimeMs);
        this.recorder.pongs++;
      }
      this.onPong?.();
    });
  }

  ping(withPrev = true): void {
    const seq = ++this.seq;
    const t0 = now();
    this.sent.set(seq, t0);
    this.stream.send({ message: { case: "ping", value: { seq, clientSendTimeMs: t0, prev: withPrev ? this.prev : undefined } } });
  }

  close(): void {
    this.stream.close();
  }
}

/** Records the streams' pongs while `load` runs, with the gateway's CPU over the same time. */
async function measure(gatewayOperatorPort: number, streams: PingStream[], recorder: Recorder, load: () => Promise<void>) {
  for (const s of streams) s.recorder = recorder;
  const cpuBefore = (await scrapeMetrics(gatewayOperatorPort)).get("process_cpu_seconds_total")!;
  const start = now();
  await load();
  for (const s of streams) s.recorder = undefined;
  const seconds = (now() - start) / 1000;
  const cpu = (await scrapeMetrics(gatewayOperatorPort)).get("process_cpu_seconds_total")! - cpuBefore;
  return {
    pingsPerSecond: round(recorder.pongs / seconds, 0),
    turnaroundMs: summarize(recorder.turnaround),
    clientRttMs: summarize(recorder.rtt),
    gatewayCpuPercent: round((cpu / seconds) * 100, 1),
    gatewayCpuMicrosPerPing: round((cpu * 1e6) / recorder.pongs, 1),
  };
}

async function main(): Promise<void> {
  const stack = await startBenchStack({
    gateways: 1,
    // The benchmark drives streams harder than a device would: lift the per-stream ping limit.
    env: { GATEWAY_MAX_PINGS_PER_SECOND: "100000", GATEWAY_PING_BURST: "100000", GATEWAY_MAX_STREAMS_PER_USER: String(opts["streams-per-user"]) },
  });
  const gw = stack.gateways[0]!;
  try {
    const tokens = await loginGuests(gw.url, Math.ceil(opts.streams / opts["streams-per-user"]));
    await sleep(1000);
    const before = await scrapeMetrics(gw.operatorPort);

    // Idle streams: memory.
    const shared = Array.from({ length: opts.connections }, () => leanConnection(gw.url));
    const connectionFor = (i: number) => (shared.length > 0 ? shared[i % shared.length]! : leanConnection(gw.url));
    const streams = Array.from({ length: opts.streams }, (_, i) => new PingStream(connectionFor(i), tokens[Math.floor(i / opts["streams-per-user"])]!));
    await Promise.all(streams.map((s) => s.ready));
    await sleep(3000);
    const idle = await scrapeMetrics(gw.operatorPort);
    const perStream = (metric: string) => round((idle.get(metric)! - before.get(metric)!) / opts.streams / 1024, 1);
    const memory = {
      rssKiBPerStream: perStream("process_resident_memory_bytes"),
      heapUsedKiBPerStream: perStream("nodejs_heap_size_used_bytes"),
      gatewayRssMiB: round(idle.get("process_resident_memory_bytes")! / 2 ** 20, 1),
    };
    process.stderr.write(`idle: ${JSON.stringify(memory)}\n`);

    // Steady load: `rate` pings per second per stream, each reporting the previous pong.
    const steady: Recorder = { rtt: [], turnaround: [], pongs: 0 };
    const interval = 1000 / opts.rate;
    const timers = streams.map((s) => {
      const timer = setTimeout(() => {
        s.ping();
        timers[streams.indexOf(s)] = setInterval(() => s.ping(), interval);
      }, Math.random() * interval);
      return timer;
    });
    await sleep(2000); // warm-up, not recorded
    const steadyResult = await measure(gw.operatorPort, streams, steady, () => sleep(opts.seconds * 1000));
    for (const t of timers) clearInterval(t);
    process.stderr.write(`steady: ${JSON.stringify(steadyResult)}\n`);
    await sleep(1000);

    // Saturation: every stream pings again as soon as its pong arrives.
    const saturated: Recorder = { rtt: [], turnaround: [], pongs: 0 };
    let running = true;
    for (const s of streams) s.onPong = () => running && s.ping(false);
    const saturation = await measure(gw.operatorPort, streams, saturated, async () => {
      for (const s of streams) s.ping(false);
      await sleep(opts["saturate-seconds"] * 1000);
      running = false;
    });
    for (const s of streams) s.close();

    writeResults(opts.connections > 0 ? `ping-${opts.connections}-connections` : "ping", {
      machine: { cpus: (await import("node:os")).cpus().length, node: process.version },
      options: opts,
      note: "turnaround = t2 - t1 (the gateway's receive and send stamps); client RTT adds both processes' HTTP/2 stacks and the client's own work on the same two cores. Saturation pings carry no previous-pong report (pure edge capacity).",
      idle: memory,
      steady: steadyResult,
      saturation,
    });
  } finally {
    await stack.stop();
  }
}

runBench(main);
