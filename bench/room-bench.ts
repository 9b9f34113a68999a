/**
 * The set-up the room benchmarks share: M members in each of R rooms (the first member
 * creates the room and is its DJ), half of each room on each of two gateways, every member on
 * a stream from one of several client processes (room-client.ts).
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { RoomService } from "../gen/groovebox/room/v1/room_pb.js";
import type { BenchStack } from "./harness.js";
import { loginGuests } from "./harness.js";
import type { Arrival, StreamAssignment } from "./room-client.js";

export interface BenchRoom {
  roomId: string;
  roomCode: string;
  /** The DJ's token. */
  dj: string;
}

export interface RoomBench {
  rooms: BenchRoom[];
  /** Joined streams, and each client process's clock offset estimate. */
  ready: Array<{ joined: number; offsetMs: number }>;
  /** Stops the streams' pings and sync reports; the streams stay open and joined. */
  quiet(): Promise<void>;
  /** Collects what the client processes recorded (and ends them). */
  arrivals(): Promise<Arrival[]>;
  /** Ends the client processes. */
  close(): void;
}

/** Sends a command to a client process and waits for its answer of kind `expect`. */
function ask(worker: ChildProcess, message: object, expect: string): Promise<{ kind: string; [k: string]: unknown }> {
  return new Promise((resolve, reject) => {
    worker.once("message", (m: { kind: string; error?: string }) => (m.kind === expect ? resolve(m) : reject(new Error(m.error ?? m.kind))));
    worker.send(message);
  });
}

export async function setUpRooms(
  stack: BenchStack,
  opts: { rooms: number; members: number; workers: number; streamsPerConnection: number; pingEveryMs: number; reportEveryMs?: number },
): Promise<RoomBench> {
  const [gw0, gw1] = stack.gateways as [BenchStack["gateways"][0], BenchStack["gateways"][0]];
  const total = opts.rooms * opts.members;
  process.stderr.write(`logging in ${total} members...\n`);
  const tokens = await loginGuests(gw0.url, total);
  const roomService = createClient(RoomService, createGrpcTransport({ baseUrl: gw0.url }));
  const rooms: BenchRoom[] = [];
  for (let r = 0; r < opts.rooms; r++) {
    const dj = tokens[r * opts.members]!;
    const { state } = await roomService.createRoom({}, { headers: { authorization: `Bearer ${dj}` } });
    rooms.push({ roomId: state!.roomId, roomCode: state!.roomCode, dj });
  }
  const assignments: StreamAssignment[][] = Array.from({ length: opts.workers }, () => []);
  for (let r = 0; r < opts.rooms; r++) {
    for (let m = 0; m < opts.members; m++) {
      const i = r * opts.members + m;
      assignments[i % opts.workers]!.push({ gatewayUrl: (m % 2 === 0 ? gw0 : gw1).url, token: tokens[i]!, roomCode: rooms[r]!.roomCode, room: r });
    }
  }
  process.stderr.write(`opening ${total} streams from ${opts.workers} client processes...\n`);
  const script = fileURLToPath(new URL("./room-client.js", import.meta.url));
  const workers = Array.from({ length: opts.workers }, () => fork(script, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] }));
  const ready = await Promise.all(
    workers.map((w, i) =>
      ask(
        w,
        { kind: "open", streams: assignments[i], streamsPerConnection: opts.streamsPerConnection, pingEveryMs: opts.pingEveryMs, reportEveryMs: opts.reportEveryMs ?? 0 },
        "ready",
      ),
    ),
  );
  return {
    rooms,
    ready: ready.map((m) => ({ joined: m.joined as number, offsetMs: m.offsetMs as number })),
    async quiet() {
      await Promise.all(workers.map((w) => ask(w, { kind: "quiet" }, "quiet")));
    },
    async arrivals() {
      const reports = await Promise.all(workers.map((w) => ask(w, { kind: "report" }, "arrivals")));
      return reports.flatMap((r) => r.arrivals as Arrival[]);
    },
    close: () => workers.forEach((w) => w.kill()),
  };
}
