/**
 * npm run bench:peers -- [--streams=1000] [--small-streams=100] [--rate=2] [--steady-seconds=20]
 *                        [--saturate-seconds=10] [--loop-seconds=5] [--rooms=50] [--members=100]
 *                        [--rounds=10] [--quick] [--servers=gateway,grpc-js,socket.io]
 *                        [--compare=<checkout>[,<checkout>...]] [--gateway-flags=<node flags>[,...]]
 *                        [--repeat=1]
 *
 * --quick: a smoke run of a minute or two (200 streams, 3 s windows, 10 rooms x 20).
 * --compare=<checkout>,...: adds "gateway@<checkout>", the gateway built in another checkout
 * (its dist/), to the servers, so a change is measured against the code before it in the same run;
 * --gateway-flags="--max-semi-space-size=8",...: adds this checkout's gateway run with those node
 * flags besides its own (after them, so they win), e.g. GC settings;
 * --repeat=N runs the whole list N times in turn (A B A B), so drifting load shows.
 *
 * The gateway beside a plain @grpc/grpc-js server and a socket.io server doing the same
 * ping/pong and room fan-out, in one run, under one load client process (@grpc/grpc-js for
 * both gRPC servers, socket.io-client for socket.io), one connection per stream. With two or
 * more cores the server under test is pinned to CPU 0 and the load client to CPU 1 (the
 * gateway's clock, rooms, playback and Redis are not pinned: they are reported apart). For
 * each server:
 *  - CPU per ping with 100 and with 1000 streams saturated (each pings again when its pong
 *    arrives), and with 1000 streams at 2 pings/s, where the RTT p50/p99 is measured too, and
 *    then, in a window of its own at the same rate (its 1 ms timer costs CPU), the server's
 *    event-loop delay: how long a ping can wait before its t1 stamp, or a pong after its t2;
 *  - memory per idle stream with rooms x members streams joined, one connection each: RSS,
 *    JS heap (live objects, after a full GC) and what lies outside the heap;
 *  - fan-out: a start command in every room at once, command -> first and last member, and
 *    the server's own hand-off (event in -> written or queued to the last member);
 *  - for the gateway, all members leaving at once: the services' and Redis's CPU, and how
 *    long until they are quiet again.
 * The servers load probe.ts (event-loop delay, memory after GC) to be measured from inside.
 * Every window also reports what the rest of the machine used, so a noisy run is visible.
 * Pings carry the previous pong's receive time, so the gateway forwards full clock samples.
 * Results: bench/results/peers.json, and a table on stdout.
 */
import { fork, type ChildProcess } from "node:child_process";
import { cpus } from "node:os";
import { basename, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { RoomService } from "../gen/groovebox/room/v1/room_pb.js";
import { histogramQuantiles, intArgs, loginGuests, round, runBench, scrapeHistogram, sleep, startBenchStack, summarize, writeResults } from "./harness.js";
import { freePort } from "../scripts/local-redis.js";
import { PEER_FANOUT_HISTOGRAM } from "./peers/peer-metrics.js";
import type { FanoutRecord, LoadCommand, PingRecord, StreamSpec, Target } from "./peers/load-client.js";
import { CpuWindow, pinToCpu, processCpuSeconds } from "./peers/proc-stats.js";
import type { ServerReady } from "./peers/wire.js";

/** A string option's value: --name=value (everything after the first "="). */
const flag = (name: string) => process.argv.slice(2).find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const quick = process.argv.includes("--quick");
const opts = intArgs({
  streams: quick ? 200 : 1000,
  "small-streams": quick ? 50 : 100,
  rate: 2,
  "steady-seconds": quick ? 3 : 20,
  "saturate-seconds": quick ? 3 : 10,
  "loop-seconds": quick ? 2 : 5,
  rooms: quick ? 10 : 50,
  members: quick ? 20 : 100,
  rounds: quick ? 3 : 10,
  repeat: 1,
});
const compareRoots = (flag("compare") ?? "").split(",").filter(Boolean).map((dir) => resolve(dir));
const flagVariants = (flag("gateway-flags") ?? "").split(",").filter(Boolean);
const serverNames = (flag("servers") ?? "gateway,grpc-js,socket.io")
  .split(",")
  .concat(compareRoots.map((dir) => `gateway@${dir}`))
  .concat(flagVariants.map((flags) => `gateway ${flags}`));

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
  /** Its Redis, one of backendPids (the gateway). */
  redisPid?: number;
  /** Where its probe.ts answers. */
  probePort: number;
  /** Streams for `count` devices, in rooms of `members` (DJ first) when members > 0. */
  streams(count: number, members: number): Promise<StreamSpec[]>;
  /** The server's own fan-out time (event in -> hand-off to the last stream), seconds, if it measures it. */
  fanoutHistogram?: string;
  stop(): Promise<void>;
}

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

const probeScript = here("./peers/probe.js");

async function gatewayServer(name: string, root?: string, flags: string[] = []): Promise<Server> {
  const users = Math.max(opts.streams, opts.rooms * opts.members);
  const probePort = await freePort();
  const stack = await startBenchStack({
    gateways: 1,
    root,
    gatewayFlags: [...flags, "--import", probeScript],
    env: {
      BENCH_PROBE_PORT: String(probePort),
      // The limits stay on, high enough that the benchmark's own rates pass them.
      GATEWAY_MAX_PINGS_PER_SECOND: "100000",
      GATEWAY_PING_BURST: "100000",
      ROOMS_SESSION_LEASE_MS: "600000",
    },
  });
  const gw = stack.gateways[0]!;
  process.stderr.write(`${name}: logging in ${users} guests...\n`);
  // A benchmark that fails here leaves nothing running.
  const tokens = await loginGuests(gw.url, users).catch(async (err: unknown) => {
    await stack.stop();
    throw err;
  });
  const rooms = createClient(RoomService, createGrpcTransport({ baseUrl: gw.url }));
  return {
    name,
    target: "grpc",
    address: `127.0.0.1:${gw.port}`,
    pid: gw.pid,
    metricsPort: gw.operatorPort,
    backendPids: stack.backendPids,
    redisPid: stack.redisPid,
    probePort,
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
  const probePort = await freePort();
  const child = fork(here(script), [], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    execArgv: ["--import", probeScript],
    env: { ...process.env, BENCH_PROBE_PORT: String(probePort) },
  });
  const ready = await new Promise<ServerReady>((resolve) => child.once("message", (m: ServerReady) => resolve(m)));
  return {
    name,
    target,
    address: target === "grpc" ? `127.0.0.1:${ready.port}` : `http://127.0.0.1:${ready.port}`,
    pid: child.pid!,
    metricsPort: ready.metricsPort,
    backendPids: [],
    probePort,
    fanoutHistogram: PEER_FANOUT_HISTOGRAM,
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

/** CPU seconds per second the processes use together, over `ms`. */
async function cpuRate(pids: number[], ms: number): Promise<number> {
  const before = pids.reduce((s, pid) => s + processCpuSeconds(pid), 0);
  const start = performance.now();
  await sleep(ms);
  return (pids.reduce((s, pid) => s + processCpuSeconds(pid), 0) - before) / ((performance.now() - start) / 1000);
}

/**
 * Waits until the processes use at most `idleRate` + 5% of a core over a second (or 30 s
 * pass): their own idle work (timers, lease renewals, the clock's re-anchoring) is not
 * mistaken for work still in progress.
 */
async function waitQuiet(pids: number[], idleRate = 0): Promise<void> {
  for (let i = 0; i < 30; i++) if ((await cpuRate(pids, 1000)) <= idleRate + 0.05) return;
}

type Client = ReturnType<typeof loadClient>;

/** Asks a server's probe (probe.ts). */
async function probe<T>(server: Server, path: string): Promise<T> {
  return (await (await fetch(`http://127.0.0.1:${server.probePort}${path}`)).json()) as T;
}

type MemoryUsage = NodeJS.MemoryUsage;

/** One ping window: `streams` streams at `rate` pings/s (0 = saturated). */
async function pingWindow(server: Server, client: Client, streams: number, rate: number, seconds: number) {
  await client.ask({ kind: "ping", streams, ratePerSecond: rate });
  await sleep(2000); // warm-up, not recorded
  await client.ask({ kind: "reset" });
  const window = new CpuWindow({ server: [server.pid], client: [client.pid], backend: server.backendPids });
  await sleep(seconds * 1000);
  const { record } = await client.ask<{ record: PingRecord }>({ kind: "collect" });
  const cpu = window.end();
  // The event-loop delay in a window of its own: its 1 ms timer is not counted in the CPU above.
  let eventLoopDelayMs: { p50: number; p99: number; max: number } | undefined;
  let loopOthersCpuPercent: number | undefined;
  if (rate > 0) {
    await probe(server, "/loop/start");
    const loopWindow = new CpuWindow({ server: [server.pid], client: [client.pid], backend: server.backendPids });
    await sleep(opts["loop-seconds"] * 1000);
    const delay = await probe<{ p50: number; p99: number; max: number }>(server, "/loop/stop");
    loopOthersCpuPercent = round(loopWindow.end().othersCpuPercent, 1);
    eventLoopDelayMs = { p50: round(delay.p50), p99: round(delay.p99), max: round(delay.max) };
  }
  await client.ask({ kind: "stop-pinging" });
  return {
    streams,
    ratePerStream: rate === 0 ? "saturated" : rate,
    pingsPerSecond: round(record.pongs / record.seconds, 0),
    serverCpuMicrosPerPing: round((cpu.cpuSeconds.server! * 1e6) / record.pongs, 1),
    backendCpuMicrosPerPing: round((cpu.cpuSeconds.backend! * 1e6) / record.pongs, 1),
    rttMs: summarize(record.rttMs),
    turnaroundMs: summarize(record.turnaroundMs),
    eventLoopDelayMs,
    load: {
      serverCpuPercent: round((cpu.cpuSeconds.server! / cpu.seconds) * 100, 1),
      clientCpuPercent: round((cpu.cpuSeconds.client! / cpu.seconds) * 100, 1),
      backendCpuPercent: round((cpu.cpuSeconds.backend! / cpu.seconds) * 100, 1),
      othersCpuPercent: round(cpu.othersCpuPercent, 1),
      ...(loopOthersCpuPercent === undefined ? {} : { loopWindowOthersCpuPercent: loopOthersCpuPercent }),
    },
  };
}

/** Memory per stream between two probe readings (after a full GC each), KiB. */
function perStream(before: MemoryUsage, after: MemoryUsage, streams: number) {
  const kib = (key: keyof MemoryUsage) => round((after[key] - before[key]) / streams / 1024, 1);
  return {
    rssKiBPerStream: kib("rss"),
    heapKiBPerStream: kib("heapUsed"),
    heapTotalKiBPerStream: kib("heapTotal"),
    externalKiBPerStream: kib("external"),
    /** RSS the V8 heap (as reserved, heapTotal) does not explain: native memory of Node, nghttp2, libuv, malloc. */
    outsideHeapKiBPerStream: round((after.rss - after.heapTotal - (before.rss - before.heapTotal)) / streams / 1024, 1),
  };
}

async function measureServer(server: Server) {
  pinToCpu(server.pid, SERVER_CPU);
  const client = loadClient();
  pinToCpu(client.pid, CLIENT_CPU);
  try {
    // Memory first, in the fresh process: what the ping windows leave behind would blur it.
    const joined = opts.rooms * opts.members;
    process.stderr.write(`${server.name}: ${joined} streams joining ${opts.rooms} rooms...\n`);
    const specs = await server.streams(joined, opts.members);
    await waitQuiet([server.pid, ...server.backendPids]);
    const before = await probe<MemoryUsage>(server, "/memory");
    await client.ask({ kind: "open", target: server.target, address: server.address, streams: specs });
    await waitQuiet([server.pid, ...server.backendPids]);
    const after = await probe<MemoryUsage>(server, "/memory");
    const idle = { streams: joined, ...perStream(before, after, joined), serverRssMiB: round(after.rss / 2 ** 20, 1), before, after };

    process.stderr.write(`${server.name}: fan-out, ${opts.rounds} rounds of a start in each room...\n`);
    const histogramBefore = server.fanoutHistogram ? await scrapeHistogram(server.metricsPort, server.fanoutHistogram) : undefined;
    const window = new CpuWindow({ server: [server.pid], client: [client.pid], backend: server.backendPids });
    const { record } = await client.ask<{ record: FanoutRecord }>({ kind: "fanout", rounds: opts.rounds, gapMs: 1000, timeoutMs: 10_000 });
    const cpu = window.end();
    const handOffSeconds =
      server.fanoutHistogram && histogramBefore
        ? histogramQuantiles(histogramBefore, await scrapeHistogram(server.metricsPort, server.fanoutHistogram), [0.5, 0.99])
        : undefined;

    // Everyone leaves at once: what it costs the services behind the server (the gateway's
    // rooms service and Redis; the peers keep rooms in memory), and for how long.
    // What they use idle is measured first and taken off.
    const groups = { server: [server.pid], redis: server.redisPid ? [server.redisPid] : [], backend: server.backendPids };
    const idleWindow = new CpuWindow(groups);
    await sleep(3000);
    const idleCpu = idleWindow.end();
    const idleRate = (idleCpu.cpuSeconds.server! + idleCpu.cpuSeconds.backend!) / idleCpu.seconds;
    const leaveStart = performance.now();
    const leaveWindow = new CpuWindow(groups);
    await client.ask({ kind: "close" });
    await waitQuiet([server.pid, ...server.backendPids], idleRate);
    const leaveCpu = leaveWindow.end();
    const beyondIdle = (group: string) => round(leaveCpu.cpuSeconds[group]! - (idleCpu.cpuSeconds[group]! / idleCpu.seconds) * leaveCpu.seconds, 2);

    process.stderr.write(`${server.name}: ${opts.streams} streams pinging...\n`);
    await client.ask({ kind: "open", target: server.target, address: server.address, streams: await server.streams(opts.streams, 0) });
    const small = await pingWindow(server, client, opts["small-streams"], 0, opts["saturate-seconds"]);
    const large = await pingWindow(server, client, opts.streams, 0, opts["saturate-seconds"]);
    const steady = await pingWindow(server, client, opts.streams, opts.rate, opts["steady-seconds"]);
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
      leave: {
        streams: joined,
        /** Until server and backend were back to their idle CPU (+ 5% of a core) over a second (so: +- 1 s). */
        secondsUntilQuiet: round((performance.now() - leaveStart) / 1000, 1),
        /** CPU seconds beyond what the processes use idle. */
        serverCpuSeconds: beyondIdle("server"),
        backendCpuSeconds: beyondIdle("backend"),
        redisCpuSeconds: beyondIdle("redis"),
        othersCpuPercent: round(leaveCpu.othersCpuPercent, 1),
      },
    };
  } finally {
    client.kill();
    await server.stop();
  }
}

type Result = Awaited<ReturnType<typeof measureServer>>;

function table(results: Array<{ name: string; result: Result }>): string {
  const ms = (x: number | null | undefined) => (x === null || x === undefined ? "-" : round(x * 1000, 1));
  const rows: Array<[string, (r: Result) => string]> = [
    [`server CPU us per ping, ${opts["small-streams"]} streams saturated`, (r) => `${r.small.serverCpuMicrosPerPing}`],
    [`server CPU us per ping, ${opts.streams} streams saturated`, (r) => `${r.large.serverCpuMicrosPerPing}`],
    [`server CPU us per ping, ${opts.streams} streams x ${opts.rate}/s`, (r) => `${r.steady.serverCpuMicrosPerPing}`],
    [`pings/s saturated, ${opts["small-streams"]} / ${opts.streams} streams`, (r) => `${r.small.pingsPerSecond} / ${r.large.pingsPerSecond}`],
    [`RTT p50 / p99 ms, ${opts.streams} x ${opts.rate}/s`, (r) => `${r.steady.rttMs.p50} / ${r.steady.rttMs.p99}`],
    [`event-loop delay p50 / p99 ms, ${opts.streams} x ${opts.rate}/s (1 ms timer)`, (r) => `${r.steady.eventLoopDelayMs?.p50} / ${r.steady.eventLoopDelayMs?.p99}`],
    [`RSS per idle joined stream (${opts.rooms * opts.members}), KiB`, (r) => `${r.idle.rssKiBPerStream}`],
    ["JS heap per idle stream (live, after GC), KiB", (r) => `${r.idle.heapKiBPerStream}`],
    ["RSS outside the V8 heap per idle stream, KiB", (r) => `${r.idle.outsideHeapKiBPerStream}`],
    [`fan-out ${opts.rooms} rooms x ${opts.members}: command -> last p50 / p99 ms`, (r) => `${r.fanout.commandToLastMs.p50} / ${r.fanout.commandToLastMs.p99}`],
    ["fan-out: server's hand-off to the last member p50 / p99 ms (bucket bound)", (r) => `${ms(r.fanout.serverHandOffSeconds?.p50)} / ${ms(r.fanout.serverHandOffSeconds?.p99)}`],
    [
      `${opts.rooms * opts.members} leaving at once: backend CPU s (of it Redis) / s until quiet`,
      (r) => (r.leave.redisCpuSeconds > 0 || r.leave.backendCpuSeconds > 0 ? `${r.leave.backendCpuSeconds} (${r.leave.redisCpuSeconds}) / ${r.leave.secondsUntilQuiet}` : "-"),
    ],
    ["other processes' CPU % (small / large / steady / loop / fan-out)", (r) => [r.small.load.othersCpuPercent, r.large.load.othersCpuPercent, r.steady.load.othersCpuPercent, r.steady.load.loopWindowOthersCpuPercent, r.fanout.othersCpuPercent].join(" / ")],
  ];
  const header = `| | ${results.map((r) => r.name).join(" | ")} |\n|---|${results.map(() => "---:").join("|")}|\n`;
  return header + rows.map(([label, cell]) => `| ${label} | ${results.map((r) => cell(r.result)).join(" | ")} |`).join("\n");
}

const serverFactories: Record<string, () => Promise<Server>> = {
  gateway: () => gatewayServer("groovebox gateway"),
  "grpc-js": () => peerServer("grpc-js", "./peers/grpc-server.js", "grpc"),
  "socket.io": () => peerServer("socket.io", "./peers/socketio-server.js", "socketio"),
  ...Object.fromEntries(compareRoots.map((dir) => [`gateway@${dir}`, () => gatewayServer(`gateway@${basename(dir)}`, dir)])),
  ...Object.fromEntries(flagVariants.map((flags) => [`gateway ${flags}`, () => gatewayServer(`gateway ${flags}`, undefined, flags.split(" "))])),
};

async function main(): Promise<void> {
  const unknown = serverNames.filter((n) => !(n in serverFactories));
  if (unknown.length > 0) throw new Error(`unknown servers: ${unknown.join(", ")} (known: ${Object.keys(serverFactories).join(", ")})`);
  const results: Array<{ name: string; result: Result }> = [];
  // Written after every server, so a run cut short (a shared machine, a long queue) keeps what it measured.
  const save = () =>
    writeResults("peers", {
      machine: { cpus: cpus().length, node: process.version, pinned: cpus().length >= 2 ? { server: SERVER_CPU, client: CLIENT_CPU } : "no" },
      options: { ...opts, servers: serverNames },
      note: "CPU is user+system time of the server process from /proc; the gateway's clock, rooms, playback and Redis are reported apart (backend*). othersCpuPercent is the rest of the machine during the window: high values mean a noisy run. Memory is read inside each server after a full GC (probe.ts); event-loop delay with a 1 ms perf_hooks timer in a window of its own after the steady one.",
      results: Object.fromEntries(results.map((r) => [r.name, r.result])),
      table: table(results),
    });
  for (let round = 1; round <= opts.repeat; round++) {
    for (const name of serverNames) {
      const server = await serverFactories[name]!();
      results.push({ name: opts.repeat > 1 ? `${server.name} #${round}` : server.name, result: await measureServer(server) });
      save();
    }
  }
  const summary = table(results);
  process.stdout.write(`\n${summary}\n`);
}

runBench(main);
