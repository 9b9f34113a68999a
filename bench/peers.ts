/**
 * npm run bench:peers -- [--streams=1000] [--small-streams=100] [--rate=2] [--steady-seconds=20]
 *                        [--saturate-seconds=10] [--rooms=50] [--members=100] [--rounds=10]
 *
 * The gateway beside a plain @grpc/grpc-js server and a socket.io server doing the same
 * ping/pong and room fan-out, in one run, under one load client process (@grpc/grpc-js for
 * both gRPC servers, socket.io-client for socket.io), one connection per stream. With two or
 * more cores the server under test is pinned to CPU 0 and the load client to CPU 1 (the
 * gateway's clock, rooms, playback and Redis are not pinned: they are reported apart). For
 * each server:
 *  - CPU per ping with 100 and with 1000 streams saturated (each pings again when its pong
 *    arrives), and with 1000 streams at 2 pings/s, where the RTT p50/p99 and the server's
 *    event-loop delay (how far t1/t2 can sit from the wire) are measured too;
 *  - memory per idle stream (RSS and JS heap) with rooms x members streams joined;
 *  - fan-out: a start command in every room at once, command -> first and last member.
 * Every window also reports what the rest of the machine used, so a noisy run is visible.
 * Pings carry the previous pong's receive time, so the gateway forwards full clock samples.
 * Results: bench/results/peers.json, and a table on stdout.
 */
import { fork, type ChildProcess } from "node:child_process";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { RoomService } from "../gen/groovebox/room/v1/room_pb.js";
import { histogramQuantiles, intArgs, loginGuests, round, runBench, scrapeHistogram, scrapeMetrics, sleep, startBenchStack, summarize, writeResults } from "./harness.js";
import type { FanoutRecord, LoadCommand, PingRecord, StreamSpec, Target } from "./peers/load-client.js";
import { CpuWindow, pinToCpu, processCpuSeconds, processRssBytes } from "./peers/proc-stats.js";
import type { ServerReady } from "./peers/wire.js";

const opts = intArgs({
  streams: 1000,
  "small-streams": 100,
  rate: 2,
  "steady-seconds": 20,
  "saturate-seconds": 10,
  rooms: 50,
  members: 100,
  rounds: 10,
});

const SERVER_CPU = 0;
const CLIENT_CPU = 1;

/** A server under test, as the benchmark drives it. */
interface Server {
  name: string;
  target: Target;
  address: string;
  pid: number;
  metricsPort: number;
  /** Processes doing the server's work behind it (the gateway's services). */
  backendPids: number[];
  /** Streams for `count` devices, in rooms of `members` (DJ first) when members > 0. */
  streams(count: number, members: number): Promise<StreamSpec[]>;
  /** The server's own fan-out time (event in -> hand-off to the last stream), seconds, if it measures it. */
  fanoutHistogram?: string;
  stop(): Promise<void>;
}

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

async function gatewayServer(): Promise<Server> {
  const users = Math.max(opts.streams, opts.rooms * opts.members);
  const stack = await startBenchStack({
    gateways: 1,
    env: {
      // The limits stay on, high enough that the benchmark's own rates pass them.
      GATEWAY_MAX_PINGS_PER_SECOND: "100000",
      GATEWAY_PING_BURST: "100000",
      ROOMS_SESSION_LEASE_MS: "600000",
    },
  });
  const gw = stack.gateways[0]!;
  process.stderr.write(`gateway: logging in ${users} guests...\n`);
  const tokens = await loginGuests(gw.url, users);
  const rooms = createClient(RoomService, createGrpcTransport({ baseUrl: gw.url }));
  return {
    name: "groovebox gateway",
    target: "grpc",
    address: `127.0.0.1:${gw.port}`,
    pid: gw.pid,
    metricsPort: gw.operatorPort,
    backendPids: stack.backendPids,
    fanoutHistogram: "gateway_room_event_fanout_seconds",
    async streams(count, members) {
      const specs: StreamSpec[] = tokens.slice(0, count).map((token) => ({ token, roomCode: "" }));
      for (let r = 0; members > 0 && r * members < count; r++) {
        const dj = specs[r * members]!;
        const { state } = await rooms.createRoom({}, { headers: { authorization: `Bearer ${dj.token}` } });
        for (const spec of specs.slice(r * members, (r + 1) * members)) spec.roomCode = state!.roomCode;
      }
      return specs;
    },
    stop: () => stack.stop(),
  };
}

async function peerServer(name: string, script: string, target: Target): Promise<Server> {
  const child = fork(here(script), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const ready = await new Promise<ServerReady>((resolve) => child.once("message", (m: ServerReady) => resolve(m)));
  return {
    name,
    target,
    address: target === "grpc" ? `127.0.0.1:${ready.port}` : `http://127.0.0.1:${ready.port}`,
    pid: child.pid!,
    metricsPort: ready.metricsPort,
    backendPids: [],
    async streams(count, members) {
      return Array.from({ length: count }, (_, i) => ({ token: "", roomCode: members > 0 ? `room-${Math.floor(i / members)}` : "" }));
    },
    async stop() {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** The load client process, and a way to send it commands and wait for its answers. */
function loadClient() {
  const child: ChildProcess = fork(here("./peers/load-client.js"), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const ask = <T>(command: LoadCommand): Promise<T> =>
    new Promise((resolve, reject) => {
      child.once("message", (m: { kind: string; error?: string }) => (m.kind === "error" ? reject(new Error(m.error)) : resolve(m as T)));
      child.send(command);
    });
  return { pid: child.pid!, ask, kill: () => child.kill() };
}

/** Waits until the processes use less than 5% of a core over a second (or 30 s pass). */
async function waitQuiet(pids: number[]): Promise<void> {
  for (let i = 0; i < 30; i++) {
    const before = pids.reduce((s, pid) => s + processCpuSeconds(pid), 0);
    await sleep(1000);
    if (pids.reduce((s, pid) => s + processCpuSeconds(pid), 0) - before < 0.05) return;
  }
}

type Client = ReturnType<typeof loadClient>;

/** One ping window: `streams` streams at `rate` pings/s (0 = saturated). */
async function pingWindow(server: Server, client: Client, streams: number, rate: number, seconds: number) {
  await client.ask({ kind: "ping", streams, ratePerSecond: rate });
  await sleep(2000); // warm-up, not recorded
  await client.ask({ kind: "reset" });
  await scrapeMetrics(server.metricsPort); // starts a fresh event-loop delay window
  const window = new CpuWindow({ server: [server.pid], client: [client.pid], backend: server.backendPids });
  await sleep(seconds * 1000);
  const { record } = await client.ask<{ record: PingRecord }>({ kind: "collect" });
  const cpu = window.end();
  const metrics = await scrapeMetrics(server.metricsPort);
  await client.ask({ kind: "stop-pinging" });
  return {
    streams,
    ratePerStream: rate === 0 ? "saturated" : rate,
    pingsPerSecond: round(record.pongs / record.seconds, 0),
    serverCpuMicrosPerPing: round((cpu.cpuSeconds.server! * 1e6) / record.pongs, 1),
    backendCpuMicrosPerPing: round((cpu.cpuSeconds.backend! * 1e6) / record.pongs, 1),
    rttMs: summarize(record.rttMs),
    turnaroundMs: summarize(record.turnaroundMs),
    eventLoopDelayMs: {
      p50: round((metrics.get("nodejs_eventloop_lag_p50_seconds") ?? NaN) * 1000),
      p99: round((metrics.get("nodejs_eventloop_lag_p99_seconds") ?? NaN) * 1000),
    },
    load: {
      serverCpuPercent: round((cpu.cpuSeconds.server! / cpu.seconds) * 100, 1),
      clientCpuPercent: round((cpu.cpuSeconds.client! / cpu.seconds) * 100, 1),
      backendCpuPercent: round((cpu.cpuSeconds.backend! / cpu.seconds) * 100, 1),
      othersCpuPercent: round(cpu.othersCpuPercent, 1),
    },
  };
}

async function measureServer(server: Server) {
  pinToCpu(server.pid, SERVER_CPU);
  const client = loadClient();
  pinToCpu(client.pid, CLIENT_CPU);
  try {
    process.stderr.write(`${server.name}: ${opts.streams} streams pinging...\n`);
    await client.ask({ kind: "open", target: server.target, address: server.address, streams: await server.streams(opts.streams, 0) });
    const small = await pingWindow(server, client, opts["small-streams"], 0, opts["saturate-seconds"]);
    const large = await pingWindow(server, client, opts.streams, 0, opts["saturate-seconds"]);
    const steady = await pingWindow(server, client, opts.streams, opts.rate, opts["steady-seconds"]);
    await client.ask({ kind: "close" });
    await waitQuiet([server.pid, ...server.backendPids]);

    const joined = opts.rooms * opts.members;
    process.stderr.write(`${server.name}: ${joined} streams joining ${opts.rooms} rooms...\n`);
    const specs = await server.streams(joined, opts.members);
    const before = { rss: processRssBytes(server.pid), heap: (await scrapeMetrics(server.metricsPort)).get("nodejs_heap_size_used_bytes")! };
    await client.ask({ kind: "open", target: server.target, address: server.address, streams: specs });
    await waitQuiet([server.pid, ...server.backendPids]);
    const idle = {
      streams: joined,
      rssKiBPerStream: round((processRssBytes(server.pid) - before.rss) / joined / 1024, 1),
      heapKiBPerStream: round(((await scrapeMetrics(server.metricsPort)).get("nodejs_heap_size_used_bytes")! - before.heap) / joined / 1024, 1),
      serverRssMiB: round(processRssBytes(server.pid) / 2 ** 20, 1),
    };

    process.stderr.write(`${server.name}: fan-out, ${opts.rounds} rounds of a start in each room...\n`);
    const histogramBefore = server.fanoutHistogram ? await scrapeHistogram(server.metricsPort, server.fanoutHistogram) : undefined;
    const window = new CpuWindow({ server: [server.pid], client: [client.pid], backend: server.backendPids });
    const { record } = await client.ask<{ record: FanoutRecord }>({ kind: "fanout", rounds: opts.rounds, gapMs: 1000, timeoutMs: 10_000 });
    const cpu = window.end();
    const handOffSeconds =
      server.fanoutHistogram && histogramBefore
        ? histogramQuantiles(histogramBefore, await scrapeHistogram(server.metricsPort, server.fanoutHistogram), [0.5, 0.99])
        : undefined;
    await client.ask({ kind: "close" });
    return {
      small,
      large,
      steady,
      idle,
      fanout: {
        rooms: opts.rooms,
        members: opts.members,
        rounds: opts.rounds,
        commandToFirstMs: summarize(record.firstMs),
        commandToLastMs: summarize(record.lastMs),
        missedDeliveries: record.missing,
        serverHandOffSeconds: handOffSeconds,
        othersCpuPercent: round(cpu.othersCpuPercent, 1),
      },
    };
  } finally {
    client.kill();
    await server.stop();
  }
}

type Result = Awaited<ReturnType<typeof measureServer>>;

function table(results: Array<{ name: string; result: Result }>): string {
  const rows: Array<[string, (r: Result) => string]> = [
    [`server CPU us per ping, ${opts["small-streams"]} streams saturated`, (r) => `${r.small.serverCpuMicrosPerPing}`],
    [`server CPU us per ping, ${opts.streams} streams saturated`, (r) => `${r.large.serverCpuMicrosPerPing}`],
    [`server CPU us per ping, ${opts.streams} streams x ${opts.rate}/s`, (r) => `${r.steady.serverCpuMicrosPerPing}`],
    [`pings/s saturated, ${opts["small-streams"]} / ${opts.streams} streams`, (r) => `${r.small.pingsPerSecond} / ${r.large.pingsPerSecond}`],
    [`RTT p50 / p99 ms, ${opts.streams} x ${opts.rate}/s`, (r) => `${r.steady.rttMs.p50} / ${r.steady.rttMs.p99}`],
    [`event-loop delay p50 / p99 ms, ${opts.streams} x ${opts.rate}/s`, (r) => `${r.steady.eventLoopDelayMs.p50} / ${r.steady.eventLoopDelayMs.p99}`],
    [`RSS per idle joined stream (${opts.rooms * opts.members}), KiB`, (r) => `${r.idle.rssKiBPerStream}`],
    ["JS heap per idle stream, KiB", (r) => `${r.idle.heapKiBPerStream}`],
    [`fan-out ${opts.rooms} rooms x ${opts.members}: command -> last p50 / p99 ms`, (r) => `${r.fanout.commandToLastMs.p50} / ${r.fanout.commandToLastMs.p99}`],
    ["other processes' CPU % (small / large / steady / fan-out)", (r) => [r.small, r.large, r.steady].map((w) => w.load.othersCpuPercent).concat(r.fanout.othersCpuPercent).join(" / ")],
  ];
  const header = `| | ${results.map((r) => r.name).join(" | ")} |\n|---|${results.map(() => "---:").join("|")}|\n`;
  return header + rows.map(([label, cell]) => `| ${label} | ${results.map((r) => cell(r.result)).join(" | ")} |`).join("\n");
}

async function main(): Promise<void> {
  const servers: Array<() => Promise<Server>> = [
    gatewayServer,
    () => peerServer("grpc-js", "./peers/grpc-server.js", "grpc"),
    () => peerServer("socket.io", "./peers/socketio-server.js", "socketio"),
  ];
  const results: Array<{ name: string; result: Result }> = [];
  for (const start of servers) {
    const server = await start();
    results.push({ name: server.name, result: await measureServer(server) });
  }
  const summary = table(results);
  writeResults("peers", {
    machine: { cpus: cpus().length, node: process.version, pinned: cpus().length >= 2 ? { server: SERVER_CPU, client: CLIENT_CPU } : "no" },
    options: opts,
    note: "CPU is user+system time of the server process from /proc; the gateway's clock, rooms, playback and Redis are reported apart (backend*). othersCpuPercent is the rest of the machine during the window: high values mean a noisy run.",
    results: Object.fromEntries(results.map((r) => [r.name, r.result])),
    table: summary,
  });
  process.stdout.write(`\n${summary}\n`);
}

runBench(main);
