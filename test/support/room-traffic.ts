import { Code, ConnectError } from "@connectrpc/connect";
import type { ServerMessage } from "../../gen/groovebox/gateway/v1/gateway_pb.js";
import { eventually, WAIT_MS } from "./eventually.js";
import { joinOnStream, type Guest } from "./rooms-client.js";
import type { TestStream } from "./stream-client.js";

/** Everything a stream receives, in order, as it arrives. */
export interface StreamRecord {
  messages: ServerMessage[];
  /** Resolves with the first message from index `from` on that matches, waiting for it. */
  waitFor(match: (m: ServerMessage) => boolean, what: string, from?: number): Promise<ServerMessage>;
  /** Ends the stream and resolves once recording has stopped. */
  stop(): Promise<void>;
}

/** Records every message of a stream (tests look back at what came, and wait for what comes). */
export function recordStream(stream: TestStream): StreamRecord {
  const messages: ServerMessage[] = [];
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      const message = await stream.nextAny(10 * WAIT_MS).catch(() => undefined);
      if (message === undefined) return;
      messages.push(message);
    }
  })();
  return {
    messages,
    waitFor: (match, what, from = 0) => eventually(async () => messages.slice(from).find(match), WAIT_MS, what),
    stop() {
      stopped = true;
      stream.cancel();
      return done;
    },
  };
}

/**
 * Where a stream's room events do not follow each other one by one (seq + 1) and no room state
 * came between to bring the client up to date, or a room state went back behind events already
 * delivered: what a client would silently miss. Empty when the stream saw everything.
 */
export function unexplainedGaps(messages: readonly ServerMessage[]): string[] {
  const gaps: string[] = [];
  let seq: bigint | undefined;
  for (const m of messages) {
    if (m.message.case === "roomState") {
      const stateSeq = m.message.value.seq;
      if (seq !== undefined && stateSeq < seq) gaps.push(`room state at ${stateSeq} after event ${seq}`);
      seq = stateSeq;
    } else if (m.seq > 0n) {
      if (seq !== undefined && m.seq !== seq + 1n) gaps.push(`event ${m.seq} after ${seq}`);
      seq = m.seq;
    }
  }
  return gaps;
}

/**
 * A room `dj` creates and plays, joined on recorded streams by `dj` and `member` (each through
 * their own gateway). `started` is told of each stream as soon as it is open (to stop it even
 * when a later step fails).
 */
export async function playingRoom(dj: Guest, member: Guest, started: (stream: StreamRecord) => void): Promise<{ roomId: string; streams: StreamRecord[] }> {
  const state = (await dj.rooms.createRoom({}, dj.auth)).state!;
  const streams: StreamRecord[] = [];
  for (const guest of [dj, member]) {
    const stream = await guest.connect();
    await joinOnStream(stream, state.roomCode);
    streams.push(recordStream(stream));
    started(streams.at(-1)!);
  }
  await dj.playback.start({ roomId: state.roomId, trackId: "song" }, dj.auth);
  return { roomId: state.roomId, streams };
}

/**
 * One command of the traffic: which room, which command, when it was answered (Date.now()), how
 * long it waited for the answer, and its error code and message, if any.
 */
export interface CommandOutcome {
  roomId: string;
  op: "seek" | "read";
  at: number;
  waitedMs: number;
  code?: Code;
  message?: string;
}

/**
 * DJ traffic on playing rooms, one loop per room until stopped: a seek (its answer's timeline
 * version is what the room acknowledged) and a read of the room's state by another member.
 * Every answer is recorded. Paced, so that a few rooms do not take a loaded machine's CPU.
 */
export function roomTraffic(dj: Guest, member: Guest, roomIds: readonly string[], paceMs = 50) {
  /** The newest timeline version acknowledged per room. */
  const acked = new Map<string, bigint>();
  const outcomes: CommandOutcome[] = [];
  /** When the command in progress in each room was sent. */
  const sentAt = new Map<string, number>();
  let stopped = false;
  const record = async (roomId: string, op: CommandOutcome["op"], call: () => Promise<unknown>) => {
    const sent = Date.now();
    sentAt.set(roomId, sent);
    try {
      await call();
      outcomes.push({ roomId, op, at: Date.now(), waitedMs: Date.now() - sent });
    } catch (err) {
      const { code, rawMessage } = ConnectError.from(err);
      outcomes.push({ roomId, op, at: Date.now(), waitedMs: Date.now() - sent, code, message: rawMessage });
    } finally {
      sentAt.delete(roomId);
    }
  };
  const loops = roomIds.map(async (roomId, i) => {
    for (let position = i * 1000; !stopped; position = (position + 777) % 600_000) {
      await record(roomId, "seek", async () => {
        const { state } = await dj.playback.seek({ roomId, positionMs: position }, dj.auth);
        if (state!.version > (acked.get(roomId) ?? 0n)) acked.set(roomId, state!.version);
      });
      await record(roomId, "read", () => member.rooms.getRoomState({ roomId }, member.auth));
      await new Promise((r) => setTimeout(r, paceMs));
    }
  });
  return {
    acked,
    outcomes,
    /** How long the room's command in progress has waited for its answer, ms (0: none in progress). */
    waiting: (roomId: string) => Date.now() - (sentAt.get(roomId) ?? Date.now()),
    /** Resolves with the first outcome after `since` that matches, waiting for it. */
    waitFor: (match: (o: CommandOutcome) => boolean, what: string, since = 0) =>
      eventually(async () => outcomes.find((o) => o.at >= since && match(o)), WAIT_MS, what),
    async stop(): Promise<void> {
      stopped = true;
      await Promise.all(loops);
    },
  };
}
