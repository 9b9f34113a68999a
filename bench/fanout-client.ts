/**
 * A client process of bench:fanout: opens the streams it is given (each joins its room), then
 * records when each room event arrives, by the system-wide monotonic clock, and hands the
 * records to the parent at the end.
 */
import type { ClientHttp2Session } from "node:http2";
import { LeanStream, leanConnection } from "./lean-client.js";

export interface StreamAssignment {
  gatewayUrl: string;
  token: string;
  roomCode: string;
  room: number;
}

export type WorkerCommand = { kind: "open"; streams: StreamAssignment[]; streamsPerConnection: number } | { kind: "report" };
/** [room, round, received at (monotonic ns as a number of microseconds)] */
export type Arrival = [number, number, number];

const monotonicMicros = () => Number(process.hrtime.bigint() / 1000n);

async function openAll(streams: StreamAssignment[], perConnection: number, arrivals: Arrival[]): Promise<number> {
  const connections = new Map<string, ClientHttp2Session[]>();
  const connectionFor = (url: string, i: number) => {
    let pool = connections.get(url);
    if (!pool) connections.set(url, (pool = []));
    return (pool[Math.floor(i / perConnection)] ??= leanConnection(url));
  };
  let joined = 0;
  const open = (a: StreamAssignment, i: number) =>
    new Promise<void>((resolve, reject) => {
      const stream = new LeanStream(connectionFor(a.gatewayUrl, i), "Connect", a.token, (msg) => {
        const m = msg.message;
        if (m.case === "playbackSync") arrivals.push([a.room, Number(m.value.version), monotonicMicros()]);
        else if (m.case === "roomState" && msg.requestId === "join") {
          joined++;
          resolve();
        } else if (m.case === "error") reject(new Error(m.value.message));
      });
      void stream.ended.then(({ status, message }) => reject(new Error(`stream ended: ${status} ${message}`)));
      stream.send({ requestId: "join", message: { case: "joinRoom", value: { roomCode: a.roomCode } } });
    });
  const queue = streams.map((a, i) => [a, i] as const);
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      for (let next = queue.shift(); next; next = queue.shift()) await open(next[0], next[1]);
    }),
  );
  return joined;
}

if (process.send) {
  const arrivals: Arrival[] = [];
  process.on("message", (cmd: WorkerCommand) => {
    if (cmd.kind === "open") {
      openAll(cmd.streams, cmd.streamsPerConnection, arrivals).then(
        (joined) => process.send!({ kind: "ready", joined }),
        (err: unknown) => process.send!({ kind: "failed", error: String(err) }),
      );
    } else {
      process.send!({ kind: "arrivals", arrivals }, () => process.exit(0));
    }
  });
}
