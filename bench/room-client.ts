/**
 * A client process of the room benchmarks: opens the streams it is given (each joins its
 * room, over the lean HTTP/2 client), estimates its clock offset to the gateway the way a
 * device does (several pings, the minimum-RTT sample), then records the room events it
 * receives and hands the records to the parent at the end. Optionally its streams keep
 * pinging and sending sync reports as the SDK's do, until told to go quiet.
 */
import type { ClientHttp2Session } from "node:http2";
import { CorrectionTier } from "../gen/groovebox/clock/v1/clock_pb.js";
import type { ServerMessage } from "../gen/groovebox/gateway/v1/gateway_pb.js";
import { LeanStream, leanConnection } from "./lean-client.js";

export interface StreamAssignment {
  gatewayUrl: string;
  token: string;
  roomCode: string;
  room: number;
}

export type WorkerCommand =
  | { kind: "open"; streams: StreamAssignment[]; streamsPerConnection: number; pingEveryMs: number; reportEveryMs: number }
  | { kind: "quiet" }
  | { kind: "report" };

/**
 * One received event: room index, event version, arrival by the system-wide monotonic clock
 * (µs), arrival in server time by this process's clock offset estimate (ms), and for
 * playback_started its start_at_server_time (ms).
 */
export type Arrival = [room: number, version: number, monotonicMicros: number, serverTimeMs: number, startAtMs: number];

const monotonicMicros = () => Number(process.hrtime.bigint() / 1000n);
const localNow = () => performance.timeOrigin + performance.now();

/** This process's clock offset to the server: server time = local time + offset. */
let offsetMs = 0;

/** The streams' periodic pings and reports; "quiet" stops them (the streams stay open). */
const timers: NodeJS.Timeout[] = [];

/** Runs `task` every `everyMs`, from a random phase, until the process goes quiet. */
function every(everyMs: number, task: () => void): void {
  timers.push(setTimeout(() => timers.push(setInterval(task, everyMs).unref()), Math.random() * everyMs).unref());
}

function record(arrivals: Arrival[], room: number, msg: ServerMessage): void {
  const m = msg.message;
  if (m.case === "playbackSync") arrivals.push([room, Number(m.value.version), monotonicMicros(), localNow() + offsetMs, 0]);
  if (m.case === "playbackStarted") {
    arrivals.push([room, Number(m.value.version), monotonicMicros(), localNow() + offsetMs, m.value.startAtServerTime]);
  }
}

/** Pings on one stream and keeps the offset of the minimum-RTT sample. */
async function estimateOffset(stream: LeanStream, pongs: Array<{ t3: number; msg: ServerMessage }>): Promise<void> {
  let best = Infinity;
  for (let seq = 1; seq <= 20; seq++) {
    const t0 = localNow();
    stream.send({ message: { case: "ping", value: { seq: BigInt(seq), clientSendTimeMs: t0 } } });
    while (pongs.length === 0) await new Promise((r) => setImmediate(r));
    const { t3, msg } = pongs.shift()!;
    if (msg.message.case !== "pong") continue;
    const { serverReceiveTimeMs: t1, serverSendTimeMs: t2 } = msg.message.value;
    const rtt = t3 - t0 - (t2 - t1);
    if (rtt < best) {
      best = rtt;
      offsetMs = (t1 - t0 + (t2 - t3)) / 2;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function openAll(cmd: Extract<WorkerCommand, { kind: "open" }>, arrivals: Arrival[]): Promise<number> {
  const connections = new Map<string, ClientHttp2Session[]>();
  const connectionFor = (url: string, i: number) => {
    let pool = connections.get(url);
    if (!pool) connections.set(url, (pool = []));
    return (pool[Math.floor(i / cmd.streamsPerConnection)] ??= leanConnection(url));
  };
  const opened: Array<{ stream: LeanStream; lastPong?: { seq: bigint; t3: number } }> = [];
  const firstStreamPongs: Array<{ t3: number; msg: ServerMessage }> = [];
  const open = (a: StreamAssignment, i: number) =>
    new Promise<void>((resolve, reject) => {
      const entry: (typeof opened)[number] = { stream: undefined as unknown as LeanStream };
      entry.stream = new LeanStream(connectionFor(a.gatewayUrl, i), "Connect", a.token, (msg) => {
        const m = msg.message;
        if (m.case === "pong") {
          entry.lastPong = { seq: m.value.seq, t3: localNow() };
          if (i === 0) firstStreamPongs.push({ t3: entry.lastPong.t3, msg });
        } else if (m.case === "roomState" && msg.requestId === "join") resolve();
        else if (m.case === "error") reject(new Error(m.value.message));
        else record(arrivals, a.room, msg);
      });
      void entry.stream.ended.then(({ status, message }) => reject(new Error(`stream ended: ${status} ${message}`)));
      entry.stream.send({ requestId: "join", message: { case: "joinRoom", value: { roomCode: a.roomCode } } });
      opened.push(entry);
    });
  const queue = cmd.streams.map((a, i) => [a, i] as const);
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      for (let next = queue.shift(); next; next = queue.shift()) await open(next[0], next[1]);
    }),
  );
  await estimateOffset(opened[0]!.stream, firstStreamPongs);
  if (cmd.pingEveryMs > 0) for (const entry of opened) keepPinging(entry, cmd.pingEveryMs);
  if (cmd.reportEveryMs > 0) for (const entry of opened) keepReporting(entry.stream, cmd.reportEveryMs);
  return opened.length;
}

/**
 * Like the SDK: a sync_report every `everyMs` (from a random phase). A device in sync reports
 * about the same every time, so only its first report is news the room is told of.
 */
function keepReporting(stream: LeanStream, everyMs: number): void {
  const report = () =>
    stream.send({
      message: {
        case: "syncReport",
        value: { offsetMs, rttMs: 1, outputLatencyMs: 20, errorBoundMs: 0.5, correctionTier: CorrectionTier.IN_SYNC, deviceId: "bench" },
      },
    });
  every(everyMs, report);
}

/** Like a device: ping every `everyMs` (from a random phase), reporting the previous pong. */
function keepPinging(entry: { stream: LeanStream; lastPong?: { seq: bigint; t3: number } }, everyMs: number): void {
  let seq = 1000n;
  const ping = () => {
    seq++;
    const prev = entry.lastPong && { seq: entry.lastPong.seq, clientReceiveTimeMs: entry.lastPong.t3 };
    entry.stream.send({ message: { case: "ping", value: { seq, clientSendTimeMs: localNow(), prev } } });
  };
  every(everyMs, ping);
}

if (process.send) {
  const arrivals: Arrival[] = [];
  process.on("message", (cmd: WorkerCommand) => {
    if (cmd.kind === "open") {
      openAll(cmd, arrivals).then(
        (joined) => process.send!({ kind: "ready", joined, offsetMs }),
        (err: unknown) => process.send!({ kind: "failed", error: String(err) }),
      );
    } else if (cmd.kind === "quiet") {
      for (const timer of timers.splice(0)) clearInterval(timer);
      process.send!({ kind: "quiet" });
    } else {
      process.send!({ kind: "arrivals", arrivals }, () => process.exit(0));
    }
  });
}
