/**
 * npm run bench:capacity -- [--rooms=160] [--members=5] [--window-s=20] [--workers=2] [--cluster=1] [--ping-every-ms=1000]
 *
 * What one playing room costs, for the capacity plan (README, Operations). R rooms of M members,
 * every member on a Connect stream (half of each room on each of two gateways) that behaves as
 * the SDK's does: a ping a second (each a clock sample), a sync report every 5 s. Every room
 * plays (its DJ's Start, the starts spread over one sync interval, with a 10 min track so its
 * track-end job exists); one scheduler sends the 10 s sync. Once every room has its schedule,
 * it measures over a window of whole sync intervals (so every room ticks as often in it, and
 * every stream renews its leases as often):
 *
 * - Redis memory per playing room: used_memory with the rooms playing minus before the first
 *   login (also without replication and client buffers: the data), and the room's keys one by
 *   one (MEMORY USAGE, grouped: state, members, round-trip index, streams, the BullMQ job
 *   scheduler, the track-end job);
 * - Redis commands and CPU per playing room per second (INFO commandstats and used_cpu over the
 *   window, less what Redis did before the first login: everything the services did, commands
 *   inside scripts and MULTI counted one by one), and the pub/sub messages (SPUBLISH) per room
 *   per second;
 * - each gateway's streams, pings, RSS per stream and CPU; every process's CPU, beside what it
 *   used idle before the first login.
 *
 * Then the members go quiet (streams open, no pings, no reports) for one more sync interval:
 * what the rooms cost without their members' clock samples and reports (the 10 s sync, the
 * leases' renewals), and on the cluster BullMQ's cost per tick on the sync queue's master.
 *
 * First on a single Redis, then (unless --cluster=0) on a private Redis Cluster of 3 masters and
 * 3 replicas, each with its own services; on the cluster, per master as well (with the keys all
 * rooms share that each holds: one tag, one shard), and what the sync queue's master does per
 * tick beyond its rooms' share: BullMQ's cost. Results: bench/results/capacity.json
 * (capacity-ping-<ms>ms.json with another --ping-every-ms: what a slower ping rate would save).
 */
import { cpus, loadavg } from "node:os";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { Cluster, Redis } from "ioredis";
import { PlaybackService } from "../gen/groovebox/playback/v1/playback_pb.js";
import { masterLayout, masterLoad, syncQueuePerTick, type MasterLayout } from "./capacity-masters.js";
import {
  connectBenchRedis,
  intArgs,
  paced,
  round,
  runBench,
  scrapeMetrics,
  sleep,
  startBenchStack,
  writeResults,
  type BenchRedisMode,
  type BenchStack,
} from "./harness.js";
import { CpuWindow } from "./peers/proc-stats.js";
import { callRate, nodeRates, nodeStats, type NodeRate, type NodeStats } from "./redis-nodes.js";
import { roomMemory, type PlayingRoom } from "./room-memory.js";
import { setUpRooms, type RoomBench } from "./room-bench.js";

const opts = intArgs({ rooms: 160, members: 5, "window-s": 20, workers: 2, "streams-per-connection": 20, cluster: 1, "ping-every-ms": 1000 });
/** The services' default sync interval. */
const SYNC_INTERVAL_MS = 10_000;
/** A track longer than the run: its end job waits in the queue all along. */
const TRACK_MS = 600_000;
/** Like the SDK: a ping a second (unless --ping-every-ms says otherwise), a sync report every 5 s. */
const PING_EVERY_MS = opts["ping-every-ms"];
const REPORT_EVERY_MS = 5000;
/**
 * The sync queue's tag (SYNC_QUEUE_TAG): one of its own, which on the cluster lands on another
 * master than the other keys every room shares (all on the first master), so each shows its cost.
 */
const SYNC_QUEUE_TAG = "playback-sync-0";
/** How long Redis is watched before the first login: what it does with no rooms at all. */
const IDLE_WINDOW_MS = 5000;
/** After the members go quiet: the clock samples already on their way are stored by then. */
const QUIET_SETTLE_MS = 2000;

const mib = (bytes: number) => round(bytes / 2 ** 20, 1);
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const cpuRate = (rates: Map<number, NodeRate>) => sum([...rates.values()].map((r) => r.cpu));
const totalCalls = (rates: Map<number, NodeRate>, command?: string) => sum([...rates.values()].map((r) => callRate(r, command)));

/** Every master's stats at the start and end of a window, and the rates between. */
async function watchRedis(redis: Redis | Cluster, ms: number) {
  const start = await nodeStats(redis);
  const began = performance.now();
  await sleep(ms);
  const end = await nodeStats(redis);
  return { end, rates: nodeRates(start, end, (performance.now() - began) / 1000) };
}

async function measure(mode: BenchRedisMode) {
  const stack = await startBenchStack({ gateways: 2, schedulers: 1, redis: mode, env: { SYNC_QUEUE_TAG } });
  const redis = connectBenchRedis(stack);
  const loadBefore = loadavg().map((x) => round(x, 2));
  let bench: RoomBench | undefined;
  try {
    const processes = {
      ...Object.fromEntries(stack.gateways.map((g, i) => [`gateway-${i + 1}`, [g.pid]])),
      ...Object.fromEntries((["clock", "rooms", "playback", "scheduler"] as const).map((name) => [name, stack.pids[name]])),
      redis: stack.redisPid === undefined ? [] : [stack.redisPid],
    };
    const idleCpu = new CpuWindow(processes);
    const idle = await watchRedis(redis, IDLE_WINDOW_MS);
    const idleUsed = idleCpu.end();
    const gatewaysIdle = await Promise.all(stack.gateways.map((g) => scrapeMetrics(g.operatorPort)));
    bench = await setUpRooms(stack, {
      rooms: opts.rooms,
      members: opts.members,
      workers: opts.workers,
      streamsPerConnection: opts["streams-per-connection"],
      pingEveryMs: PING_EVERY_MS,
      reportEveryMs: REPORT_EVERY_MS,
    });
    const playing = await startEveryRoom(stack, bench);
    const scheduler = stack.schedulers[0]!.operatorPort;
    while ((await scrapeMetrics(scheduler)).get("scheduler_job_schedulers") !== opts.rooms) await sleep(200);

    process.stderr.write(`${opts.rooms} rooms playing; measuring for ${opts["window-s"]} s...\n`);
    const gatewaysBefore = await Promise.all(stack.gateways.map((g) => scrapeMetrics(g.operatorPort)));
    const cpu = new CpuWindow(processes);
    const window = await watchRedis(redis, opts["window-s"] * 1000);
    const used = cpu.end();
    const gatewaysAfter = await Promise.all(stack.gateways.map((g) => scrapeMetrics(g.operatorPort)));
    process.stderr.write("reading the rooms' keys...\n");
    const keys = await roomMemory(redis, playing, SYNC_QUEUE_TAG);
    const layout = mode === "cluster" ? await masterLayout(redis, playing.map((r) => r.roomId), SYNC_QUEUE_TAG) : undefined;

    process.stderr.write("the members go quiet (no pings, no reports); the rooms play on...\n");
    await bench.quiet();
    await sleep(QUIET_SETTLE_MS);
    const quietCpu = new CpuWindow(processes);
    const quiet = await watchRedis(redis, SYNC_INTERVAL_MS);
    const quietUsed = quietCpu.end();

    const cpuPercent = (w: ReturnType<CpuWindow["end"]>, name: string) => round((w.cpuSeconds[name]! / w.seconds) * 100, 1);
    /** Each process's CPU in the window, with the members quiet, and idle before the first login. */
    const processCpu = Object.fromEntries(
      Object.keys(processes).map((name) => [
        name,
        { percent: cpuPercent(used, name), quietPercent: cpuPercent(quietUsed, name), idlePercent: cpuPercent(idleUsed, name) },
      ]),
    );
    const growth = (pick: (n: NodeStats) => number) => Math.round((sum(window.end.map(pick)) - sum(idle.end.map(pick))) / opts.rooms);
    return {
      loadavg: { before: loadBefore, after: loadavg().map((x) => round(x, 2)) },
      othersCpuPercent: round(used.othersCpuPercent, 1),
      window: { seconds: round(used.seconds, 1), syncIntervals: round((used.seconds * 1000) / SYNC_INTERVAL_MS, 2) },
      rooms: opts.rooms,
      membersPerRoom: opts.members,
      redis: {
        usedMemoryBytesPerRoom: growth((n) => n.usedMemoryBytes),
        dataBytesPerRoom: growth((n) => n.dataBytes),
        keys,
        ...perRoom(window.rates, idle.rates),
        ...(layout
          ? {
              masters: masterLoad(layout, window.rates, idle.rates).map((m) => ({
                ...m,
                dataBytesGrowth: window.end.find((n) => n.port === m.port)!.dataBytes - idle.end.find((n) => n.port === m.port)!.dataBytes,
              })),
            }
          : {}),
      },
      quietMembers: quietRooms(quiet.rates, idle.rates, layout),
      gateways: stack.gateways.map((_g, i) =>
        gatewayFigures(gatewaysIdle[i]!, gatewaysBefore[i]!, gatewaysAfter[i]!, used.seconds, processCpu[`gateway-${i + 1}`]!),
      ),
      processesCpuPercent: processCpu,
    };
  } finally {
    bench?.close();
    redis.disconnect();
    await stack.stop();
  }
}

/** The commands that made a window's load beyond idle, most called first, per `unit` (e.g. per room). */
function topCommands(rates: Map<number, NodeRate>, idle: Map<number, NodeRate>, unit: number) {
  const commands = new Set([...rates.values()].flatMap((r) => [...r.calls.keys()]));
  return [...commands]
    .map((command) => ({ command, calls: round((totalCalls(rates, command) - totalCalls(idle, command)) / unit, 3) }))
    .sort((a, b) => b.calls - a.calls)
    .slice(0, 20);
}

/**
 * Redis's work per playing room per second: what it did while the rooms played beyond what it
 * did before the first login (BullMQ's polling, health checks, cluster gossip), divided by the
 * rooms; and the commands that made it.
 */
function perRoom(playing: Map<number, NodeRate>, idle: Map<number, NodeRate>) {
  const per = (x: number) => round(x / opts.rooms, 3);
  return {
    perRoomPerSecond: {
      commands: per(totalCalls(playing) - totalCalls(idle)),
      cpuMicros: per((cpuRate(playing) - cpuRate(idle)) * 1e6),
      pubsubMessages: per(totalCalls(playing, "spublish")),
      plainPublish: per(totalCalls(playing, "publish")),
    },
    idlePerSecond: { commands: round(totalCalls(idle), 1), cpuPercent: round(cpuRate(idle) * 100, 2) },
    note: "beyond what Redis did before the first login (idlePerSecond). commands: every command run, inside scripts and MULTI too (evalsha and the commands it ran count apart, as do MULTI, EXEC and the commands between); cpuMicros: the servers' whole CPU (networking included), masters only",
    topCommandsPerRoomPerSecond: topCommands(playing, idle, opts.rooms),
  };
}

/**
 * Redis while the members are quiet (streams open, no pings, no sync reports) and the rooms play
 * on: the 10 s sync and the leases' renewals, per room; on a cluster per master, and the sync
 * queue's master's load per tick beyond its rooms' share (BullMQ's).
 */
function quietRooms(quiet: Map<number, NodeRate>, idle: Map<number, NodeRate>, layout: MasterLayout[] | undefined) {
  const ticksPerSecond = totalCalls(quiet, "spublish");
  const load = layout && masterLoad(layout, quiet, idle);
  return {
    ticksPerSecond: round(ticksPerSecond, 1),
    perRoomPerSecond: {
      commands: round((totalCalls(quiet) - totalCalls(idle)) / opts.rooms, 3),
      cpuMicros: round(((cpuRate(quiet) - cpuRate(idle)) * 1e6) / opts.rooms, 1),
    },
    topCommandsPerRoomPerSecond: topCommands(quiet, idle, opts.rooms),
    ...(load ? { masters: load, syncQueueShardPerTick: syncQueuePerTick(load, ticksPerSecond) } : {}),
    note: "one sync interval with the members' streams open but silent: ticks (counted by SPUBLISH) and lease renewals; beyond what Redis did before the first login",
  };
}

/**
 * A gateway's streams, pings, memory and CPU over the window. Per stream: all its CPU divided by
 * its streams, an upper bound (its own fixed work is in it: GC, clock checks, timers).
 */
function gatewayFigures(
  idle: Map<string, number>,
  before: Map<string, number>,
  after: Map<string, number>,
  seconds: number,
  cpu: { percent: number; quietPercent: number; idlePercent: number },
) {
  const streams = after.get("gateway_streams")!;
  const rss = after.get("process_resident_memory_bytes")!;
  const growth = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
  return {
    streams,
    // The clients' pace as the gateway saw it (1 when they kept up), and samples it could not hand on.
    pingsPerStreamSecond: round(growth("gateway_pings_total") / seconds / streams, 2),
    clockSamplesDropped: growth("gateway_clock_samples_dropped_total"),
    rssMiB: mib(rss),
    // From before the first login: the streams' own state and the heap's growth under their load.
    rssGrowthKiBPerStream: round((rss - idle.get("process_resident_memory_bytes")!) / 1024 / streams, 1),
    ...cpu,
    cpuMicrosPerStreamSecond: round((cpu.percent * 1e4) / streams, 1),
    quietCpuMicrosPerStreamSecond: round((cpu.quietPercent * 1e4) / streams, 1),
  };
}

/** Every room's DJ starts a track, the starts spread over one sync interval as independent rooms' are. */
async function startEveryRoom(stack: BenchStack, bench: RoomBench): Promise<PlayingRoom[]> {
  const playback = createClient(PlaybackService, createGrpcTransport({ baseUrl: stack.gateways[0]!.url }));
  const playing: PlayingRoom[] = new Array(bench.rooms.length);
  process.stderr.write(`starting ${bench.rooms.length} rooms over ${SYNC_INTERVAL_MS} ms...\n`);
  await paced(
    bench.rooms.length,
    async (i) => {
      const { roomId, roomCode, dj } = bench.rooms[i]!;
      const res = await playback.start({ roomId, trackId: `track-${i}`, trackDurationMs: TRACK_MS }, { headers: { authorization: `Bearer ${dj}` } });
      playing[i] = { roomId, roomCode, version: Number(res.version) };
    },
    (i) => (i * SYNC_INTERVAL_MS) / bench.rooms.length,
  );
  return playing;
}

async function main(): Promise<void> {
  const single = await measure("single");
  const cluster = opts.cluster ? await measure("cluster") : undefined;
  // Another ping rate than the SDK's is another experiment: its own file.
  writeResults(PING_EVERY_MS === 1000 ? "capacity" : `capacity-ping-${PING_EVERY_MS}ms`, {
    machine: { cpus: cpus().length, node: process.version },
    options: opts,
    client: { pingEveryMs: PING_EVERY_MS, syncReportEveryMs: REPORT_EVERY_MS, trackMs: TRACK_MS, syncIntervalMs: SYNC_INTERVAL_MS },
    single,
    ...(cluster ? { cluster: { nodes: "3 masters + 3 replicas", ...cluster } } : {}),
  });
}

runBench(main);
