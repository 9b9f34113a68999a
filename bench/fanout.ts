/**
 * npm run bench:fanout -- [--rooms=100] [--members=100] [--rounds=20] [--workers=2] [--streams-per-connection=20] [--burst=0] [--cluster]
 *
 * Two gateways, R rooms of M members (half of each room on each gateway), every member on a
 * Connect stream from one of several client processes. Each round publishes one event to every
 * room (through the same Redis script path the services use, so sequence numbers stay whole):
 * spread evenly over the round, as independent rooms' events are, or with --burst=1 all at
 * the same instant (the worst case: every stream of both gateways gets a message at once). The
 * clients record when each stream gets it. Reports publish-to-last-stream latency per room and
 * event (p50/p99/max), per-stream delivery latency, the gateways' own fan-out time (event from
 * Redis to its hand-off to the room's last local stream), CPU and memory. Times come from the
 * system-wide monotonic clock. Clients share the machine's cores with the gateways: in burst
 * mode the end-to-end numbers mostly measure the clients. Results: bench/results/fanout.json
 * (fanout-burst.json with --burst=1).
 *
 * With --cluster the same measurement runs twice in one run: first on a single Redis (the
 * file's top-level figures, as without it), then on a private Redis Cluster of 3 masters and 3
 * replicas (under `cluster`, with how many rooms landed on each master), each with its own
 * services and gateways, started and removed in turn. Its defaults are 40 rooms of 40 members
 * and 10 rounds, so both fit in about 2 minutes. Each measurement records the machine's load
 * average around it: on a shared machine, compare the two within one run.
 */
import { cpus, loadavg } from "node:os";
import { create, toBinary } from "@bufbuild/protobuf";
import { RoomEventSchema } from "../gen/groovebox/room/v1/room_pb.js";
import { LUA_ROOM_KEYS, roomScriptKeys } from "../services/common/keys.js";
import { LuaScript } from "../services/common/redis.js";
import { LUA_PUBLISH_ROOM_EVENT } from "../services/common/room-events.js";
import {
  connectBenchRedis,
  histogramQuantiles,
  intArgs,
  round,
  runBench,
  scrapeHistogram,
  scrapeMetrics,
  sleep,
  startBenchStack,
  summarize,
  type BenchRedisMode,
  writeResults,
} from "./harness.js";
import { roomsPerMaster } from "./redis-nodes.js";
import { setUpRooms, type RoomBench } from "./room-bench.js";

/** Two stacks in one run: smaller rooms by default, so the whole run stays within a few minutes. */
const twoStacks = process.argv.includes("--cluster");
const opts = intArgs({
  rooms: twoStacks ? 40 : 100,
  members: twoStacks ? 40 : 100,
  rounds: twoStacks ? 10 : 20,
  workers: 2,
  "streams-per-connection": 20,
  "round-interval-ms": 1000,
  burst: 0,
  cluster: 0,
});

/** Publishes an event frame on a room's channel with the room's next sequence number. */
const publishScript = new LuaScript(`${LUA_ROOM_KEYS}${LUA_PUBLISH_ROOM_EVENT}
return publish_room_event(K.seq, K.events, ARGV[1])
`);

const monotonicMicros = () => Number(process.hrtime.bigint() / 1000n);

/** One measurement: its own stack (services, two gateways, clients) on the given Redis. */
async function measure(mode: BenchRedisMode) {
  const stack = await startBenchStack({
    gateways: 2,
    redis: mode,
    env: { GATEWAY_MAX_STREAMS_PER_USER: "1000", ROOMS_SESSION_LEASE_MS: "600000", GATEWAY_LEASE_RENEW_MS: "200000" },
  });
  const redis = connectBenchRedis(stack);
  const loadBefore = loadavg().map((x) => round(x, 2));
  let bench: RoomBench | undefined;
  try {
    bench = await setUpRooms(stack, {
      rooms: opts.rooms,
      members: opts.members,
      workers: opts.workers,
      streamsPerConnection: opts["streams-per-connection"],
      pingEveryMs: 0,
    });
    const roomList = bench.rooms;
    const joined = bench.ready.reduce((n, r) => n + r.joined, 0);
    await sleep(2000);
    const before = await Promise.all(stack.gateways.map((g) => scrapeMetrics(g.operatorPort)));
    const fanoutBefore = await Promise.all(stack.gateways.map((g) => scrapeHistogram(g.operatorPort, "gateway_room_event_fanout_seconds")));

    process.stderr.write(`${joined} streams joined; publishing ${opts.rounds} rounds...\n`);
    const published = new Map<string, number>(); // "room:round" -> monotonic µs
    for (let k = 1; k <= opts.rounds; k++) {
      const roundStart = performance.now();
      await Promise.all(
        roomList.map(async ({ roomId }, r) => {
          if (!opts.burst) await sleep(roundStart + (r * opts["round-interval-ms"]) / opts.rooms - performance.now());
          const frame = toBinary(
            RoomEventSchema,
            create(RoomEventSchema, { roomId, event: { case: "playbackSync", value: { roomId, version: BigInt(k), trackId: "bench" } } }),
          );
          published.set(`${r}:${k}`, monotonicMicros());
          await publishScript.run(redis, roomScriptKeys(roomId), [Buffer.from(frame)]);
        }),
      );
      await sleep(roundStart + opts["round-interval-ms"] - performance.now());
    }
    await sleep(2000);
    const after = await Promise.all(stack.gateways.map((g) => scrapeMetrics(g.operatorPort)));
    const fanoutAfter = await Promise.all(stack.gateways.map((g) => scrapeHistogram(g.operatorPort, "gateway_room_event_fanout_seconds")));
    const arrivals = await bench.arrivals();

    const perStream: number[] = [];
    const lastPerRoomRound = new Map<string, number>();
    const counts = new Map<string, number>();
    for (const [room, k, at] of arrivals) {
      const key = `${room}:${k}`;
      const latencyMs = (at - published.get(key)!) / 1000;
      perStream.push(latencyMs);
      lastPerRoomRound.set(key, Math.max(lastPerRoomRound.get(key) ?? 0, latencyMs));
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const complete = [...counts.values()].filter((n) => n === opts.members).length;
    const elapsed = (opts.rounds * opts["round-interval-ms"] + 2000) / 1000;
    const gateways = stack.gateways.map((_gateway, i) => ({
      cpuPercent: round(((after[i]!.get("process_cpu_seconds_total")! - before[i]!.get("process_cpu_seconds_total")!) / elapsed) * 100, 1),
      rssMiB: round(after[i]!.get("process_resident_memory_bytes")! / 2 ** 20, 1),
      heapUsedMiB: round(after[i]!.get("nodejs_heap_size_used_bytes")! / 2 ** 20, 1),
      streams: after[i]!.get("gateway_streams"),
      // Inside the gateway: event from Redis to hand-off to the room's last local stream (bucket upper bounds, s).
      fanoutSeconds: histogramQuantiles(fanoutBefore[i]!, fanoutAfter[i]!, [0.5, 0.99, 1]),
    }));
    return {
      loadavg: { before: loadBefore, after: loadavg().map((x) => round(x, 2)) },
      streamsJoined: joined,
      events: { published: published.size, deliveredToEveryMember: complete, deliveries: perStream.length, expected: published.size * opts.members },
      publishToLastStreamMs: summarize([...lastPerRoomRound.values()]),
      perStreamDeliveryMs: summarize(perStream),
      gateways,
      ...(mode === "cluster" ? { roomsPerMaster: await roomsPerMaster(redis, roomList.map((r) => r.roomId)) } : {}),
    };
  } finally {
    bench?.close();
    redis.disconnect();
    await stack.stop();
  }
}

async function main(): Promise<void> {
  const single = await measure("single");
  const cluster = opts.cluster ? await measure("cluster") : undefined;
  writeResults(opts.burst ? "fanout-burst" : "fanout", {
    machine: { cpus: cpus().length, node: process.version },
    options: opts,
    ...single,
    ...(cluster ? { cluster: { redis: "3 masters + 3 replicas", ...cluster } } : {}),
  });
}

runBench(main);
