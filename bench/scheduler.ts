/**
 * npm run bench:scheduler -- [--rooms=10000] [--interval-ms=10000] [--duration-s=60] [--schedulers=2] [--lead-ms=200] [--kill-at-s=0] [--redis-hz=10]
 *
 * The periodic playback_sync at scale: R rooms playing at once (each started by its DJ through a
 * gateway, the starts spread over one interval as independent rooms' are), two scheduler
 * processes, and an observer subscribed to every room's channel in Redis. After every room has
 * its schedule and one interval of warm-up, it watches for --duration-s and reports, for the
 * ticks due in that window: lateness (arrival on the channel - the tick's server_timestamp, by
 * the host clock the services use) p50/p99/max, duplicates (a room's tick seen twice), misses
 * (a slot of a room's grid with no tick), the schedulers' own publication-lateness histogram,
 * Redis memory per playing room (the whole used_memory difference between the rooms idle and
 * playing, and the sync's own keys measured one by one), keys and jobs before and after (nothing
 * piles up), and the CPU of the schedulers, Redis, the other services and this process, beside
 * what the rest of the machine used in the window (a shared machine: compare within one run).
 *
 * With --kill-at-s=N, one scheduler is killed (SIGKILL) N seconds into the window and the
 * misses show what that cost: the rooms it held, and the largest gap. Results:
 * bench/results/scheduler.json (scheduler-kill.json with --kill-at-s).
 */
import { fromBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Redis } from "ioredis";
import { loadavg } from "node:os";
import { PlaybackService } from "../gen/groovebox/playback/v1/playback_pb.js";
import { RoomEventSchema, RoomService } from "../gen/groovebox/room/v1/room_pb.js";
import { createHostClock } from "../services/common/clock/host-clock.js";
import { roomKeys } from "../services/common/keys.js";
import { decodeRoomEventFrame } from "../services/common/room-events.js";
import {
  histogramQuantiles,
  intArgs,
  loginGuests,
  paced,
  round,
  runBench,
  scrapeHistogram,
  scrapeMetrics,
  sleep,
  startBenchStack,
  summarize,
  writeResults,
} from "./harness.js";
import { CpuWindow } from "./peers/proc-stats.js";
import { jobCounts, syncMemory, usedMemory } from "./sync-redis.js";
import { countTicks, latenessBySecond, type SeenTick } from "./tick-tally.js";

const opts = intArgs({ rooms: 10_000, "interval-ms": 10_000, "duration-s": 60, schedulers: 2, "lead-ms": 200, "kill-at-s": 0, "redis-hz": 10 });
const INTERVAL = opts["interval-ms"];
/** Rooms per DJ (each a guest login). */
const ROOMS_PER_DJ = 100;

async function main(): Promise<void> {
  const sync = { SYNC_INTERVAL_MS: String(INTERVAL), SYNC_LEAD_MS: String(opts["lead-ms"]) };
  // One DJ creates ROOMS_PER_DJ rooms, far past the per-user creation limit meant for people.
  const stack = await startBenchStack({ gateways: 1, schedulers: opts.schedulers, env: { ...sync, ROOMS_CREATE_RATE_PER_USER: "1000000/1s" } });
  const clock = createHostClock();
  const redis = new Redis(stack.redisUrl);
  const observer = new Redis(stack.redisUrl);
  try {
    // Redis answers a blocked worker's timeout on its hz tick (10/s by default): BullMQ hands a
    // due job over up to 1/hz late.
    await redis.config("SET", "hz", String(opts["redis-hz"]));
    const gateway = createGrpcTransport({ baseUrl: stack.gateways[0]!.url });
    const roomService = createClient(RoomService, gateway);
    const playback = createClient(PlaybackService, gateway);

    process.stderr.write(`creating ${opts.rooms} rooms...\n`);
    const djs = await loginGuests(stack.gateways[0]!.url, Math.ceil(opts.rooms / ROOMS_PER_DJ));
    const rooms: Array<{ roomId: string; dj: string }> = new Array(opts.rooms);
    await paced(opts.rooms, async (i) => {
      const dj = djs[Math.floor(i / ROOMS_PER_DJ)]!;
      const { state } = await roomService.createRoom({}, { headers: { authorization: `Bearer ${dj}` } });
      rooms[i] = { roomId: state!.roomId, dj };
    });
    const index = new Map(rooms.map((r, i) => [roomKeys.events(r.roomId), i]));

    // Every tick seen: per room, its server timestamps and when each arrived (host clock).
    const seen: SeenTick[][] = rooms.map(() => []);
    observer.on("smessageBuffer", (channel: Buffer, frame: Buffer) => {
      const at = clock.now();
      const room = index.get(channel.toString());
      if (room === undefined) return;
      const event = fromBinary(RoomEventSchema, decodeRoomEventFrame(frame).body).event;
      if (event.case === "playbackSync") seen[room]!.push({ t: event.value.serverTimestamp, at });
    });
    const channels = [...index.keys()];
    for (let i = 0; i < channels.length; i += 1000) await observer.ssubscribe(...channels.slice(i, i + 1000));

    const memoryIdle = await usedMemory(redis);
    process.stderr.write(`starting ${opts.rooms} rooms over ${INTERVAL} ms...\n`);
    const startsBegan = performance.now();
    await paced(
      opts.rooms,
      async (i) => {
        await playback.start({ roomId: rooms[i]!.roomId, trackId: `track-${i}` }, { headers: { authorization: `Bearer ${rooms[i]!.dj}` } });
      },
      (i) => (i * INTERVAL) / opts.rooms,
    );
    const startsTookMs = performance.now() - startsBegan;
    const scheduler0 = stack.schedulers[0]!.operatorPort;
    while ((await scrapeMetrics(scheduler0)).get("scheduler_job_schedulers") !== opts.rooms) await sleep(200);
    await sleep(INTERVAL); // warm-up: every room has ticked at least once
    const memoryPlaying = await usedMemory(redis);
    const syncKeys = await syncMemory(redis, rooms.map((r) => r.roomId));
    const keysBefore = await redis.dbsize();

    process.stderr.write(`measuring for ${opts["duration-s"]} s...\n`);
    const histogramsBefore = await Promise.all(stack.schedulers.map((s) => scrapeHistogram(s.operatorPort, "scheduler_tick_lateness_seconds")));
    const pickupBefore = await Promise.all(stack.schedulers.map((s) => scrapeHistogram(s.operatorPort, "scheduler_job_pickup_delay_seconds")));
    // With --kill-at-s, the CPU shown is the surviving schedulers' (the killed one's goes with it).
    const measured = opts["kill-at-s"] > 0 ? stack.schedulers.slice(1) : stack.schedulers;
    const groups = {
      schedulers: measured.map((s) => s.pid),
      redis: stack.redisPid === undefined ? [] : [stack.redisPid],
      otherServices: stack.backendPids.filter((pid) => pid !== stack.redisPid).concat(stack.gateways.map((g) => g.pid)),
      benchmark: [process.pid],
    };
    const cpu = new CpuWindow(groups);
    // What the rest of the machine used, second by second: lateness is read against it.
    const othersBySecond: Array<{ at: number; othersPercent: number }> = [];
    let second = new CpuWindow(groups);
    const sampler = setInterval(() => {
      othersBySecond.push({ at: clock.now(), othersPercent: second.end().othersCpuPercent });
      second = new CpuWindow(groups);
    }, 1000);
    const load = { before: loadavg().map((x) => round(x, 2)) };
    const windowStart = clock.now();
    let killedAt: number | undefined;
    /** What the killed scheduler sent in the window before it died: it carried its share. */
    let killedSent = 0;
    if (opts["kill-at-s"] > 0) {
      const doomed = stack.schedulers[0]!.operatorPort;
      const sentBefore = (await outcomeCounts(doomed)).sent ?? 0;
      await sleep(opts["kill-at-s"] * 1000);
      killedSent = ((await outcomeCounts(doomed)).sent ?? 0) - sentBefore;
      killedAt = clock.now();
      process.kill(stack.schedulers[0]!.pid, "SIGKILL");
      process.stderr.write(`killed scheduler ${stack.schedulers[0]!.pid}\n`);
    }
    await sleep(opts["duration-s"] * 1000 - (killedAt === undefined ? 0 : killedAt - windowStart));
    const windowEnd = clock.now();
    clearInterval(sampler);
    const cpuUsed = cpu.end();
    const alive = stack.schedulers.filter((_, i) => killedAt === undefined || i > 0);
    // Ticks due in the window may arrive a little after it.
    await sleep(Math.max(2000, opts["lead-ms"] * 2));
    const loadAfter = loadavg().map((x) => round(x, 2));
    const histogramsAfter = await Promise.all(alive.map((s) => scrapeHistogram(s.operatorPort, "scheduler_tick_lateness_seconds")));
    const pickupAfter = await Promise.all(alive.map((s) => scrapeHistogram(s.operatorPort, "scheduler_job_pickup_delay_seconds")));
    const outcomes = await Promise.all(alive.map((s) => outcomeCounts(s.operatorPort)));
    const keysAfter = await redis.dbsize();
    const jobs = await jobCounts(redis);

    const tally = countTicks(seen, windowStart, windowEnd, INTERVAL);
    const bySecond = latenessBySecond(tally.arrivals, othersBySecond);
    const survivors = <T>(xs: T[]) => xs.filter((_, i) => killedAt === undefined || i > 0);
    const schedulerHistogram = histogramQuantiles(sumHistograms(survivors(histogramsBefore)), sumHistograms(histogramsAfter), [0.5, 0.99, 0.999]);
    const pickupHistogram = histogramQuantiles(sumHistograms(survivors(pickupBefore)), sumHistograms(pickupAfter), [0.5, 0.99, 0.999]);
    writeResults(killedAt === undefined ? "scheduler" : "scheduler-kill", {
      machine: { cpus: (await import("node:os")).cpus().length, node: process.version, loadavg: { before: load.before, after: loadAfter } },
      options: opts,
      setup: { startsTookMs: Math.round(startsTookMs), schedulers: opts.schedulers },
      window: { seconds: round((windowEnd - windowStart) / 1000, 1), ticksPerSecond: round(tally.expected / ((windowEnd - windowStart) / 1000), 1) },
      ticks: { expected: tally.expected, received: tally.received, duplicates: tally.duplicates, misses: tally.misses, roomsWithMisses: tally.roomsWithMisses, largestGapIntervals: tally.largestGap },
      latenessMs: { ...summarize(tally.arrivals.map((a) => a.lateness)), note: "arrival on the room's channel (observer in this process) - server_timestamp, host clock" },
      latenessMsInQuietSeconds: {
        ...summarize(bySecond.quiet),
        seconds: bySecond.quietSeconds,
        note: "ticks due in the seconds in which the rest of the machine used under 50% of one core",
      },
      worstSeconds: bySecond.worst,
      schedulerPublicationLatenessSeconds: { ...schedulerHistogram, note: "the schedulers' own histogram: bucket upper bounds" },
      jobPickupDelaySeconds: { ...pickupHistogram, note: "BullMQ's hand-over: due time to a worker taking the job (bucket upper bounds); beyond lead-ms the tick is late" },
      schedulerOutcomes: outcomes,
      kill:
        killedAt === undefined
          ? undefined
          : { atSecond: round((killedAt - windowStart) / 1000, 1), pid: stack.schedulers[0]!.pid, ticksItSentInTheWindowBefore: killedSent },
      redisMemory: {
        usedBytesIdleRooms: memoryIdle,
        usedBytesPlaying: memoryPlaying,
        bytesPerPlayingRoom: Math.round((memoryPlaying - memoryIdle) / opts.rooms),
        syncKeysBytesPerRoom: syncKeys,
        note: "bytesPerPlayingRoom: used_memory playing minus idle (timeline, schedule, index, tick mark), per room; syncKeysBytesPerRoom: MEMORY USAGE of the sync's keys",
      },
      redisKeys: { beforeWindow: keysBefore, afterWindow: keysAfter },
      queueJobs: jobs,
      cpu: {
        windowSeconds: round(cpuUsed.seconds, 1),
        percentOfOneCore: Object.fromEntries(Object.entries(cpuUsed.cpuSeconds).map(([k, v]) => [k, round((v / cpuUsed.seconds) * 100, 1)])),
        othersOnTheMachinePercent: round(cpuUsed.othersCpuPercent, 1),
      },
    });
  } finally {
    clock.stop();
    observer.disconnect();
    redis.disconnect();
    await stack.stop();
  }
}

async function outcomeCounts(operatorPort: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${operatorPort}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^scheduler_ticks_total\{outcome="([^"]+)"[^}]*\}\s+(\S+)/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

function sumHistograms(hs: Array<Map<number, number>>): Map<number, number> {
  const out = new Map<number, number>();
  for (const h of hs) for (const [le, n] of h) out.set(le, (out.get(le) ?? 0) + n);
  return out;
}

runBench(main);
