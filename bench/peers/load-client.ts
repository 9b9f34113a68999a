/**
 * The peer benchmark's load client, one process driven by its parent over IPC: it opens
 * streams (one connection each, like devices), joins rooms, pings at a rate or as fast as the
 * pongs come back, and sends playback starts while recording when every member gets them. The
 * same client library talks to both gRPC servers (@grpc/grpc-js), socket.io-client to
 * socket.io, so what differs between runs is the server.
 */
import * as grpc from "@grpc/grpc-js";
import { io, type Socket } from "socket.io-client";
import { connectMethod, ioEvents, type ClientMessage, type IoPong, type ServerMessage } from "./wire.js";
import { create } from "@bufbuild/protobuf";
import { ClientMessageSchema } from "../../gen/groovebox/gateway/v1/gateway_pb.js";

export type Target = "grpc" | "socketio";

export interface StreamSpec {
  /** Bearer token (the gateway); empty for the peers. */
  token: string;
  /** Room to join ("" = none); the DJ of a room is its first stream. */
  roomCode: string;
}

export type LoadCommand =
  | { kind: "open"; target: Target; address: string; streams: StreamSpec[] }
  | { kind: "ping"; streams: number; ratePerSecond: number }
  | { kind: "reset" }
  | { kind: "collect" }
  | { kind: "stop-pinging" }
  | { kind: "fanout"; rounds: number; gapMs: number; timeoutMs: number }
  | { kind: "close" };

/** What a ping window recorded: client RTTs and server turnarounds (ms), pongs, seconds. */
export interface PingRecord {
  rttMs: number[];
  turnaroundMs: number[];
  pongs: number;
  seconds: number;
}

/** Per room and round: command -> first and -> last member, ms; members that got it. */
export interface FanoutRecord {
  firstMs: number[];
  lastMs: number[];
  missing: number;
}

const epochNow = () => performance.timeOrigin + performance.now();

/** One device's stream, whatever carries it. */
interface BenchStream {
  readonly ready: Promise<void>;
  ping(seq: number, t0: number, prev: { seq: number; t3: number } | undefined): void;
  join(roomCode: string): Promise<void>;
  start(trackId: string): void;
  close(): void;
}

interface StreamEvents {
  onPong(seq: number, t1: number, t2: number): void;
  onStarted(trackId: string): void;
}

const GrpcClient = grpc.makeGenericClientConstructor(connectMethod, "GatewayService");

function grpcStream(address: string, spec: StreamSpec, events: StreamEvents): BenchStream {
  // A client of its own, with its own subchannel: one HTTP/2 connection per stream.
  const client = new GrpcClient(address, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
  const metadata = new grpc.Metadata();
  if (spec.token) metadata.set("authorization", `Bearer ${spec.token}`);
  const call = (client as unknown as { connect(md: grpc.Metadata): grpc.ClientDuplexStream<ClientMessage, ServerMessage> }).connect(metadata);
  let hello!: () => void;
  let failed!: (err: Error) => void;
  const ready = new Promise<void>((resolve, reject) => ((hello = resolve), (failed = reject)));
  /** Joins waiting for their answer: room_state, or an error that ends the benchmark (not a hang). */
  const joins = new Map<string, { resolve: () => void; reject: (err: Error) => void }>();
  call.on("data", (msg: ServerMessage) => {
    const m = msg.message;
    if (m.case === "pong") events.onPong(Number(m.value.seq), m.value.serverReceiveTimeMs, m.value.serverSendTimeMs);
    else if (m.case === "playbackStarted") events.onStarted(m.value.trackId);
    else if (m.case === "hello") hello();
    else if (m.case === "roomState") joins.get(msg.requestId)?.resolve();
    else if (m.case === "error") {
      const err = new Error(`${m.value.code}: ${m.value.message}`);
      const join = joins.get(msg.requestId);
      if (join) join.reject(err);
      else failed(err);
    }
  });
  call.on("error", (err) => {
    failed(err);
    for (const join of joins.values()) join.reject(err);
  });
  const send = (msg: Parameters<typeof create<typeof ClientMessageSchema>>[1]) => call.write(create(ClientMessageSchema, msg));
  return {
    ready,
    ping(seq, t0, prev) {
      send({
        message: {
          case: "ping",
          value: { seq: BigInt(seq), clientSendTimeMs: t0, prev: prev && { seq: BigInt(prev.seq), clientReceiveTimeMs: prev.t3 } },
        },
      });
    },
    join(roomCode) {
      const requestId = `j-${roomCode}`;
      const joined = new Promise<void>((resolve, reject) => joins.set(requestId, { resolve, reject }));
      send({ requestId, message: { case: "joinRoom", value: { roomCode } } });
      return joined;
    },
    start(trackId) {
      send({ message: { case: "playbackCommand", value: { command: { case: "start", value: { trackId } } } } });
    },
    close() {
      call.end();
      client.close();
    },
  };
}

function socketIoStream(address: string, events: StreamEvents): BenchStream {
  const socket: Socket = io(address, { transports: ["websocket"], forceNew: true, reconnection: false });
  const ready = new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("connect_error", reject);
  });
  socket.on(ioEvents.pong, (p: IoPong) => events.onPong(p.seq, p.serverReceiveTimeMs, p.serverSendTimeMs));
  socket.on(ioEvents.started, (s: { trackId: string }) => events.onStarted(s.trackId));
  return {
    ready,
    ping(seq, t0, prev) {
      socket.emit(ioEvents.ping, { seq, clientSendTimeMs: t0, prev: prev && { seq: prev.seq, clientReceiveTimeMs: prev.t3 } });
    },
    join: (roomCode) => new Promise<void>((resolve) => socket.emit(ioEvents.join, roomCode, () => resolve())),
    start: (trackId) => socket.emit(ioEvents.start, { trackId }),
    close: () => socket.close(),
  };
}

/** A device: its stream, its ping sequence, and what the current window records. */
class Device {
  stream!: BenchStream;
  private seq = 0;
  private readonly sent = new Map<number, number>();
  private prev: { seq: number; t3: number } | undefined;
  /** Pinging: at a rate (a timer), or again as soon as each pong arrives (saturation). */
  private timer: NodeJS.Timeout | undefined;
  private saturating = false;

  constructor(
    private readonly record: () => PingRecord | undefined,
    readonly onStarted: (trackId: string) => void,
  ) {}

  readonly events: StreamEvents = {
    onPong: (seq, t1, t2) => {
      const t3 = epochNow();
      const t0 = this.sent.get(seq);
      this.sent.delete(seq);
      this.prev = { seq, t3 };
      const rec = this.record();
      if (rec && t0 !== undefined) {
        rec.rttMs.push(t3 - t0);
        rec.turnaroundMs.push(t2 - t1);
        rec.pongs++;
      }
      if (this.saturating) this.ping();
    },
    onStarted: (trackId) => this.onStarted(trackId),
  };

  ping(): void {
    const seq = ++this.seq;
    const t0 = epochNow();
    this.sent.set(seq, t0);
    this.stream.ping(seq, t0, this.prev);
  }

  startPinging(ratePerSecond: number): void {
    if (ratePerSecond <= 0) {
      this.saturating = true;
      this.ping();
      return;
    }
    const interval = 1000 / ratePerSecond;
    // Spread the streams' pings over the interval, as independent devices are.
    this.timer = setTimeout(() => {
      this.ping();
      this.timer = setInterval(() => this.ping(), interval);
    }, Math.random() * interval);
  }

  stopPinging(): void {
    this.saturating = false;
    clearTimeout(this.timer);
    clearInterval(this.timer);
  }
}

function main(): void {
  let devices: Array<{ device: Device; spec: StreamSpec }> = [];
  let record: PingRecord | undefined;
  let recordStart = 0;
  /** Fan-out round in progress: arrivals per room. */
  let arrivals: Map<string, number[]> | undefined;
  const reply = (m: object) => process.send!(m);

  const handlers: { [K in LoadCommand["kind"]]: (c: Extract<LoadCommand, { kind: K }>) => Promise<object> } = {
    async open({ target, address, streams }) {
      for (let i = 0; i < streams.length; i += 100) {
        const batch = streams.slice(i, i + 100).map((spec) => {
          const device = new Device(
            () => record,
            (trackId) => arrivals?.get(`${spec.roomCode}/${trackId}`)?.push(performance.now()),
          );
          device.stream = target === "grpc" ? grpcStream(address, spec, device.events) : socketIoStream(address, device.events);
          return { device, spec };
        });
        await Promise.all(batch.map(async ({ device, spec }) => {
          await device.stream.ready;
          if (spec.roomCode) await device.stream.join(spec.roomCode);
        }));
        devices.push(...batch);
      }
      return { kind: "opened", count: devices.length };
    },
    async ping({ streams, ratePerSecond }) {
      for (const { device } of devices.slice(0, streams)) device.startPinging(ratePerSecond);
      return { kind: "pinging" };
    },
    async reset() {
      record = { rttMs: [], turnaroundMs: [], pongs: 0, seconds: 0 };
      recordStart = performance.now();
      return { kind: "reset" };
    },
    async collect() {
      const out = record!;
      out.seconds = (performance.now() - recordStart) / 1000;
      record = undefined;
      return { kind: "collected", record: out };
    },
    async "stop-pinging"() {
      for (const { device } of devices) device.stopPinging();
      // Let pongs in flight arrive before the next window.
      await new Promise((r) => setTimeout(r, 500));
      return { kind: "stopped" };
    },
    async fanout({ rounds, gapMs, timeoutMs }) {
      const result: FanoutRecord = { firstMs: [], lastMs: [], missing: 0 };
      const rooms = new Map<string, { dj: Device; members: number }>();
      for (const { device, spec } of devices) {
        if (!spec.roomCode) continue;
        const room = rooms.get(spec.roomCode);
        if (room) room.members++;
        else rooms.set(spec.roomCode, { dj: device, members: 1 });
      }
      for (let round = 0; round < rounds; round++) {
        const trackId = `track-${round}-${Date.now()}`;
        arrivals = new Map([...rooms.keys()].map((code) => [`${code}/${trackId}`, []]));
        const sentAt = new Map<string, number>();
        for (const [code, { dj }] of rooms) {
          sentAt.set(code, performance.now());
          dj.stream.start(trackId);
        }
        const deadline = performance.now() + timeoutMs;
        const complete = () => [...rooms].every(([code, r]) => arrivals!.get(`${code}/${trackId}`)!.length >= r.members);
        while (!complete() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
        for (const [code, r] of rooms) {
          const got = arrivals.get(`${code}/${trackId}`)!;
          result.missing += r.members - got.length;
          if (got.length === 0) continue;
          result.firstMs.push(Math.min(...got) - sentAt.get(code)!);
          result.lastMs.push(Math.max(...got) - sentAt.get(code)!);
        }
        arrivals = undefined;
        await new Promise((r) => setTimeout(r, gapMs));
      }
      return { kind: "fanned-out", record: result };
    },
    async close() {
      for (const { device } of devices) {
        device.stopPinging();
        device.stream.close();
      }
      devices = [];
      return { kind: "closed" };
    },
  };

  process.on("message", (command: LoadCommand) => {
    const handle = handlers[command.kind] as (c: LoadCommand) => Promise<object>;
    handle(command).then(reply, (err: unknown) => reply({ kind: "error", error: String((err as Error)?.stack ?? err) }));
  });
}

main();
