/**
 * bench:sweep: what Redis pays when a gateway with thousands of streams dies and their members
 * leave at once. One room holds `leaving` members whose streams were on the dead gateway and
 * `staying` members whose streams stay (renewed): the sweeper drops the expired streams when
 * their leases end, and removes the members when their grace periods end. Measured on a
 * private redis-server (nothing else on it), for several sizes: the sweep's wall time, Redis's
 * CPU (INFO cpu), the script calls and their time (INFO commandstats), and the longest single
 * script call (SLOWLOG), which is how long Redis answered nobody else. Writes
 * bench/results/sweep.json.
 *
 *   npm run bench:sweep -- --leaving=5000 --staying=5000 --steps=3
 */
import { cpus, loadavg } from "node:os";
import { Redis } from "ioredis";
import { createLogger } from "../services/common/logger.js";
import { createRoomStore, type RoomStoreOptions } from "../services/rooms/room-store.js";
import { freePort, startLocalRedis } from "../scripts/local-redis.js";
import { intArgs, round, runBench, writeResults } from "./harness.js";

const T0 = 1_900_000_000_000;
const opts: RoomStoreOptions = { graceMs: 30_000, idleMs: 600_000, leaseMs: 30_000, emptyRoomTtlMs: 900_000 };
/** Streams attached or renewed per batch while the room is set up. */
const BATCH = 1000;

/** What Redis did between two readings. */
interface RedisCounters {
  cpuMs: number;
  scriptCalls: number;
  scriptUs: number;
}

async function counters(redis: Redis): Promise<RedisCounters> {
  const info = await redis.info("all");
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, "m").exec(info)?.[1] ?? 0);
  const script = /^cmdstat_evalsha:calls=(\d+),usec=(\d+)/m.exec(info);
  return {
    cpuMs: (field("used_cpu_user") + field("used_cpu_sys")) * 1000,
    scriptCalls: Number(script?.[1] ?? 0),
    scriptUs: Number(script?.[2] ?? 0),
  };
}

/** The longest script call in the slow log (every call is logged), ms. */
async function longestScriptMs(redis: Redis): Promise<number> {
  const entries = (await redis.call("SLOWLOG", "GET", "-1")) as Array<[number, number, number, string[]]>;
  return entries.filter((e) => e[3][0]?.toLowerCase() === "evalsha").reduce((max, e) => Math.max(max, e[2] / 1000), 0);
}

/** One room: `leaving` members' streams expire, `staying` members' streams are renewed; both sweeps measured. */
async function measure(redis: Redis, leaving: number, staying: number) {
  const store = createRoomStore(redis, opts, createLogger("rooms", "warn"));
  const { roomId } = await store.create({ name: "", userId: "dj", displayName: "DJ" }, T0);
  const ids = (kind: string, n: number) => Array.from({ length: n }, (_, i) => `${kind}${i}`);
  const attach = (userId: string) => store.attach(roomId, { sessionId: `s-${userId}`, userId, displayName: userId, mustBeMember: false }, T0);
  const all = [...ids("leaving", leaving), ...ids("staying", staying)];
  for (let i = 0; i < all.length; i += BATCH) await Promise.all(all.slice(i, i + BATCH).map(attach));
  const stayingSessions = ids("staying", staying).map((u) => `s-${u}`);
  const renew = async (nowMs: number) => {
    for (let i = 0; i < stayingSessions.length; i += BATCH) await store.renew(roomId, stayingSessions.slice(i, i + BATCH), nowMs);
  };

  const leasesEnd = T0 + opts.leaseMs + 1;
  await renew(leasesEnd - 1000); // the live gateway renewed its streams; the dead one did not
  await redis.call("SLOWLOG", "RESET");
  /** One sweep at `nowMs`: its wall time and what Redis did meanwhile. */
  const sweep = async (nowMs: number) => {
    await redis.config("RESETSTAT");
    const before = await counters(redis);
    const started = performance.now();
    await store.sweep(roomId, nowMs);
    const ms = performance.now() - started;
    const after = await counters(redis);
    return { ms, cpuMs: after.cpuMs - before.cpuMs, calls: after.scriptCalls - before.scriptCalls, scriptUs: after.scriptUs - before.scriptUs };
  };
  const streams = await sweep(leasesEnd);
  await renew(leasesEnd + opts.graceMs - 1000);
  const members = await sweep(leasesEnd + opts.graceMs + 1);
  const left = (await store.read(roomId))!.members.length;
  if (left !== staying + 1) throw new Error(`${left} members left, expected ${staying + 1}`);
  const cpuMs = streams.cpuMs + members.cpuMs;
  return {
    leaving,
    staying,
    sweepMs: round(streams.ms + members.ms, 1),
    streamsSweepMs: round(streams.ms, 1),
    membersSweepMs: round(members.ms, 1),
    redisCpuMs: round(cpuMs, 1),
    redisCpuUsPerLeavingMember: round((cpuMs * 1000) / leaving, 1),
    scriptCalls: streams.calls + members.calls,
    scriptMs: round((streams.scriptUs + members.scriptUs) / 1000, 1),
    longestScriptMs: round(await longestScriptMs(redis), 2),
  };
}

runBench(async () => {
  const args = intArgs({ leaving: 5000, staying: 5000, steps: 3 });
  const port = await freePort();
  const server = await startLocalRedis({ port, args: ["--slowlog-log-slower-than", "0", "--slowlog-max-len", "100000"] });
  const redis = new Redis(server.url);
  const loadAtStart = loadavg()[0]!;
  try {
    const runs = [];
    for (let step = 1; step <= args.steps; step++) {
      const [leaving, staying] = [args.leaving, args.staying].map((n) => Math.round((n * step) / args.steps)) as [number, number];
      process.stderr.write(`room with ${leaving} members leaving and ${staying} staying...\n`);
      runs.push(await measure(redis, leaving, staying));
    }
    writeResults("sweep", {
      machine: { cpus: cpus().length, loadAverage1m: { start: round(loadAtStart, 2), end: round(loadavg()[0]!, 2) } },
      options: opts,
      runs,
    });
  } finally {
    redis.disconnect();
    await server.stop();
  }
});
