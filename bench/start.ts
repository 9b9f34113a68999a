/**
 * npm run bench:start -- [--rooms=10] [--members=100] [--rounds=20] [--workers=4] [--streams-per-connection=20]
 *
 * Rooms of M members over two gateways; members ping every 2 s like devices (so the start
 * buffer is sized from real round trips). Each round, every room's DJ starts a track (unary
 * PlaybackService/Start through a gateway) and every member records when playback_started
 * arrives, in server time by its own clock-offset estimate. Reports the time from the command
 * to the last member, and the margin start_at_server_time - arrival, which must stay positive:
 * a member that gets the event after start_at starts late. Results: bench/results/start.json.
 */
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { PlaybackService } from "../gen/groovebox/playback/v1/playback_pb.js";
import { intArgs, percentile, round, runBench, sleep, startBenchStack, summarize, writeResults } from "./harness.js";
import { setUpRooms, type RoomBench } from "./room-bench.js";

const opts = intArgs({ rooms: 10, members: 100, rounds: 20, workers: 4, "streams-per-connection": 20, "round-interval-ms": 1000 });

async function main(): Promise<void> {
  const total = opts.rooms * opts.members;
  const stack = await startBenchStack({ gateways: 2, env: { GATEWAY_MAX_STREAMS_PER_USER: "1000" } });
  let bench: RoomBench | undefined;
  try {
    bench = await setUpRooms(stack, {
      rooms: opts.rooms,
      members: opts.members,
      workers: opts.workers,
      streamsPerConnection: opts["streams-per-connection"],
      pingEveryMs: 2000,
    });
    const roomList = bench.rooms;
    const playback = createClient(PlaybackService, createGrpcTransport({ baseUrl: stack.gateways[0]!.url }));
    process.stderr.write(`${total} members on streams; clock offsets of the client processes: ${bench.ready.map((r) => round(r.offsetMs)).join(", ")} ms\n`);
    await sleep(5000); // a few pings each: the room round-trip index fills

    const commands = new Map<string, { serverTimestamp: number; startAt: number; buffer: number }>();
    for (let k = 0; k < opts.rounds; k++) {
      await Promise.all(
        roomList.map(async (room, r) => {
          const res = await playback.start(
            { roomId: room.roomId, trackId: `track-${k}` },
            { headers: { authorization: `Bearer ${room.dj}` } },
          );
          commands.set(`${r}:${res.version}`, { serverTimestamp: res.serverTimestamp, startAt: res.startAtServerTime, buffer: res.syncBufferMs });
        }),
      );
      await sleep(opts["round-interval-ms"]);
    }
    await sleep(2000);
    const arrivals = await bench.arrivals();

    const latency: number[] = [];
    const margins: number[] = [];
    const lastPerCommand = new Map<string, number>();
    for (const [room, version, , arrivalServerMs, startAt] of arrivals) {
      const key = `${room}:${version}`;
      const cmd = commands.get(key);
      if (!cmd) continue;
      latency.push(arrivalServerMs - cmd.serverTimestamp);
      margins.push(startAt - arrivalServerMs);
      lastPerCommand.set(key, Math.max(lastPerCommand.get(key) ?? -Infinity, arrivalServerMs - cmd.serverTimestamp));
    }
    const buffers = [...commands.values()].map((c) => c.buffer);
    writeResults("start", {
      machine: { cpus: (await import("node:os")).cpus().length, node: process.version },
      options: opts,
      commands: commands.size,
      deliveries: { received: latency.length, expected: commands.size * opts.members },
      syncBufferMs: { min: Math.min(...buffers), max: Math.max(...buffers), p50: percentile(buffers, 50) },
      commandToArrivalMs: summarize(latency),
      commandToLastMemberMs: summarize([...lastPerCommand.values()]),
      marginMs: {
        p50: round(percentile(margins, 50)),
        "p0.1 (the p99.9 worst)": round(percentile(margins, 0.1)),
        min: round(Math.min(...margins)),
        negative: margins.filter((m) => m <= 0).length,
      },
      note: "margin = start_at_server_time - arrival (server time, by each client process's own min-RTT offset estimate); positive means the member had the event before the start instant",
    });
  } finally {
    bench?.close();
    await stack.stop();
  }
}

runBench(main);
