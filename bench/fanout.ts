/**
 * npm run bench:fanout -- [--rooms=100] [--members=100] [--rounds=20] [--workers=2] [--streams-per-connection=20] [--burst=0]
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
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { create, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Redis } from "ioredis";
import { RoomEventSchema, RoomService } from "../gen/groovebox/room/v1/room_pb.js";
import { LUA_ROOM_KEYS, roomScriptKeys } from "../services/common/keys.js";
import { LuaScript } from "../services/common/redis.js";
import { LUA_PUBLISH_ROOM_EVENT } from "../services/common/room-events.js";
import type { Arrival, StreamAssignment } from "./room-client.js";
import {
  histogramQuantiles,
  intArgs,
  loginGuests,
  round,
  scrapeHistogram,
  scrapeMetrics,
  sleep,
  startBenchStack,
  summarize,
  writeResults,
} from "./harness.js";

const opts = intArgs({ rooms: 100, members: 100, rounds: 20, workers: 2, "streams-per-connection": 20, "round-interval-ms": 1000, burst: 0 });

/** Publishes an event frame on a room's channel with the room's next sequence number. */
const publishScript = new LuaScript(`${LUA_ROOM_KEYS}${LUA_PUBLISH_ROOM_EVENT}
return publish_room_event(K.seq, K.events, ARGV[1])
`);

const monotonicMicros = () => Number(process.hrtime.bigint() / 1000n);

function ask(worker: ChildProcess, message: object, expect: string): Promise<{ kind: string; [k: string]: unknown }> {
  return new Promise((resolve, reject) => {
    worker.once("message", (m: { kind: string; error?: string }) => (m.kind === expect ? resolve(m) : reject(new Error(m.error ?? m.kind))));
    worker.send(message);
  });
}

async function main(): Promise<void> {
  const total = opts.rooms * opts.members;
  const stack = await startBenchStack({
    gateways: 2,
    env: { GATEWAY_MAX_STREAMS_PER_USER: "1000", ROOMS_SESSION_LEASE_MS: "600000", GATEWAY_LEASE_RENEW_MS: "200000" },
  });
  const workers: ChildProcess[] = [];
  const redis = new Redis(stack.redisUrl);
  try {
    const [gw0, gw1] = stack.gateways as [(typeof stack.gateways)[0], (typeof stack.gateways)[0]];
    process.stderr.write(`logging in ${total} members...\n`);
    const tokens = await loginGuests(gw0.url, total);
    const rooms = createClient(RoomService, createGrpcTransport({ baseUrl: gw0.url }));
    const roomList: Array<{ roomId: string; roomCode: string }> = [];
    for (let r = 0; r < opts.rooms; r++) {
      const { state } = await rooms.createRoom({}, { headers: { authorization: `Bearer ${tokens[r * opts.members]}` } });
      roomList.push({ roomId: state!.roomId, roomCode: state!.roomCode });
    }
    const assignments: StreamAssignment[][] = Array.from({ length: opts.workers }, () => []);
    for (let r = 0; r < opts.rooms; r++) {
      for (let m = 0; m < opts.members; m++) {
        const i = r * opts.members + m;
        assignments[i % opts.workers]!.push({ gatewayUrl: (m % 2 === 0 ? gw0 : gw1).url, token: tokens[i]!, roomCode: roomList[r]!.roomCode, room: r });
      }
    }
    process.stderr.write(`opening ${total} streams from ${opts.workers} client processes...\n`);
    const script = fileURLToPath(new URL("./room-client.js", import.meta.url));
    for (let w = 0; w < opts.workers; w++) workers.push(fork(script, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] }));
    const opened = await Promise.all(
      workers.map((w, i) =>
        ask(w, { kind: "open", streams: assignments[i], streamsPerConnection: opts["streams-per-connection"], pingEveryMs: 0 }, "ready"),
      ),
    );
    const joined = opened.reduce((n, m) => n + (m.joined as number), 0);
    await sleep(2000);
    const before = await Promise.all(stack.gateways.map((g) => scrapeMetrics(g.port)));
    const fanoutBefore = await Promise.all(stack.gateways.map((g) => scrapeHistogram(g.port, "gateway_room_event_fanout_seconds")));

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
    const after = await Promise.all(stack.gateways.map((g) => scrapeMetrics(g.port)));
    const fanoutAfter = await Promise.all(stack.gateways.map((g) => scrapeHistogram(g.port, "gateway_room_event_fanout_seconds")));
    const reports = await Promise.all(workers.map((w) => ask(w, { kind: "report" }, "arrivals")));

    const perStream: number[] = [];
    const lastPerRoomRound = new Map<string, number>();
    const counts = new Map<string, number>();
    for (const report of reports) {
      for (const [room, k, at] of report.arrivals as Arrival[]) {
        const key = `${room}:${k}`;
        const latencyMs = (at - published.get(key)!) / 1000;
        perStream.push(latencyMs);
        lastPerRoomRound.set(key, Math.max(lastPerRoomRound.get(key) ?? 0, latencyMs));
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
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
    writeResults(opts.burst ? "fanout-burst" : "fanout", {
      machine: { cpus: (await import("node:os")).cpus().length, node: process.version },
      options: opts,
      streamsJoined: joined,
      events: { published: published.size, deliveredToEveryMember: complete, deliveries: perStream.length, expected: published.size * opts.members },
      publishToLastStreamMs: summarize([...lastPerRoomRound.values()]),
      perStreamDeliveryMs: summarize(perStream),
      gateways,
    });
  } finally {
    for (const w of workers) w.kill();
    redis.disconnect();
    await stack.stop();
  }
}

void main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`);
    process.exit(1);
  },
);
