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
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { PlaybackService } from "../gen/groovebox/playback/v1/playback_pb.js";
import { RoomService } from "../gen/groovebox/room/v1/room_pb.js";
import type { Arrival, StreamAssignment } from "./room-client.js";
import { intArgs, loginGuests, percentile, round, sleep, startBenchStack, summarize, writeResults } from "./harness.js";

const opts = intArgs({ rooms: 10, members: 100, rounds: 20, workers: 4, "streams-per-connection": 20, "round-interval-ms": 1000 });

function ask(worker: ChildProcess, message: object, expect: string): Promise<{ kind: string; [k: string]: unknown }> {
  return new Promise((resolve, reject) => {
    worker.once("message", (m: { kind: string; error?: string }) => (m.kind === expect ? resolve(m) : reject(new Error(m.error ?? m.kind))));
    worker.send(message);
  });
}

async function main(): Promise<void> {
  const total = opts.rooms * opts.members;
  const stack = await startBenchStack({ gateways: 2, env: { GATEWAY_MAX_STREAMS_PER_USER: "1000" } });
  const workers: ChildProcess[] = [];
  try {
    const [gw0, gw1] = stack.gateways as [(typeof stack.gateways)[0], (typeof stack.gateways)[0]];
    const tokens = await loginGuests(gw0.url, total);
    const transport = createGrpcTransport({ baseUrl: gw0.url });
    const rooms = createClient(RoomService, transport);
    const playback = createClient(PlaybackService, transport);
    const roomList: Array<{ roomId: string; roomCode: string; dj: string }> = [];
    for (let r = 0; r < opts.rooms; r++) {
      const dj = tokens[r * opts.members]!;
      const { state } = await rooms.createRoom({}, { headers: { authorization: `Bearer ${dj}` } });
      roomList.push({ roomId: state!.roomId, roomCode: state!.roomCode, dj });
    }
    const assignments: StreamAssignment[][] = Array.from({ length: opts.workers }, () => []);
    for (let r = 0; r < opts.rooms; r++) {
      for (let m = 0; m < opts.members; m++) {
        const i = r * opts.members + m;
        assignments[i % opts.workers]!.push({ gatewayUrl: (m % 2 === 0 ? gw0 : gw1).url, token: tokens[i]!, roomCode: roomList[r]!.roomCode, room: r });
      }
    }
    const script = fileURLToPath(new URL("./room-client.js", import.meta.url));
    for (let w = 0; w < opts.workers; w++) workers.push(fork(script, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] }));
    const ready = await Promise.all(
      workers.map((w, i) =>
        ask(w, { kind: "open", streams: assignments[i], streamsPerConnection: opts["streams-per-connection"], pingEveryMs: 2000 }, "ready"),
      ),
    );
    process.stderr.write(`${total} members on streams; clock offsets of the client processes: ${ready.map((r) => round(r.offsetMs as number)).join(", ")} ms\n`);
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
    const reports = await Promise.all(workers.map((w) => ask(w, { kind: "report" }, "arrivals")));

    const latency: number[] = [];
    const margins: number[] = [];
    const lastPerCommand = new Map<string, number>();
    for (const report of reports) {
      for (const [room, version, , arrivalServerMs, startAt] of report.arrivals as Arrival[]) {
        const key = `${room}:${version}`;
        const cmd = commands.get(key);
        if (!cmd) continue;
        latency.push(arrivalServerMs - cmd.serverTimestamp);
        margins.push(startAt - arrivalServerMs);
        lastPerCommand.set(key, Math.max(lastPerCommand.get(key) ?? -Infinity, arrivalServerMs - cmd.serverTimestamp));
      }
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
    for (const w of workers) w.kill();
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
