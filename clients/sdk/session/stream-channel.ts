import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createWritableIterable } from "@connectrpc/connect/protocol";
import {
  GatewayService,
  type ClientMessageSchema,
  type ServerMessage,
} from "../../../gen/groovebox/gateway/v1/gateway_pb.js";
import type { PlaybackState } from "../../../gen/groovebox/playback/v1/playback_pb.js";
import type { RoomState } from "../../../gen/groovebox/room/v1/room_pb.js";
import type { ExchangeTimes } from "../clock/clock-filter.js";
import { bearer, type Channel, type ChannelContext, type Command, type SyncReportInit } from "./channel.js";
import { asConnectionLoss } from "./connection-loss.js";

type ClientMessageInit = MessageInitShape<typeof ClientMessageSchema>;

interface Pending {
  resolve(message: ServerMessage): void;
  reject(err: ConnectError): void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * A channel on GatewayService/Connect: one bidirectional stream carries pings, requests and
 * the room's events. Pong arrival (t3) is stamped as the first thing done with each message.
 */
export async function openStreamChannel(ctx: ChannelContext): Promise<Channel> {
  const client = createClient(GatewayService, ctx.transport);
  const input = createWritableIterable<ClientMessageInit>();
  const abort = new AbortController();
  const pending = new Map<string, Pending>();
  const pings = new Map<bigint, { t0: number; resolve(v: ExchangeTimes): void }>();
  let nextRequest = 1;
  let nextPing = 1n;
  let lastPong: { seq: bigint; t3: number } | undefined;
  let closedByUs = false;
  let ended = false;
  let sessionId = "";

  let helloResolve!: () => void;
  let helloReject!: (err: unknown) => void;
  const hello = new Promise<void>((resolve, reject) => {
    helloResolve = resolve;
    helloReject = reject;
  });

  function finish(err: ConnectError): void {
    if (ended) return;
    ended = true;
    input.close();
    for (const p of pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    pending.clear();
    pings.clear();
    helloReject(err);
    if (!closedByUs) ctx.onClosed(err);
  }

  function send(msg: ClientMessageInit): void {
    if (ended) return;
    input.write(msg).catch(() => {
      // The stream is closing; its end is reported by the reader.
    });
  }

  function request(message: ClientMessageInit["message"]): Promise<ServerMessage> {
    if (ended) return Promise.reject(new ConnectError("the connection is closed", Code.Unavailable));
    const requestId = `r${nextRequest++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(requestId);
        reject(new ConnectError("no answer from the gateway in time", Code.DeadlineExceeded));
      }, ctx.requestTimeoutMs);
      pending.set(requestId, { resolve, reject, timer });
      send({ message, requestId });
    });
  }

  function dispatch(msg: ServerMessage, t3: number): void {
    const m = msg.message;
    if (m.case === "pong") {
      lastPong = { seq: m.value.seq, t3 };
      const ping = pings.get(m.value.seq);
      ping?.resolve({ t0: ping.t0, t1: m.value.serverReceiveTimeMs, t2: m.value.serverSendTimeMs, t3 });
      pings.delete(m.value.seq);
      return;
    }
    if (m.case === "hello") {
      sessionId = m.value.sessionId;
      helloResolve();
      return;
    }
    if (msg.requestId !== "") {
      const p = pending.get(msg.requestId);
      if (p === undefined) return;
      pending.delete(msg.requestId);
      clearTimeout(p.timer);
      if (m.case === "error") {
        if (m.value.pingSeq !== 0n) pings.delete(m.value.pingSeq);
        p.reject(new ConnectError(m.value.message, m.value.code as number as Code));
      } else p.resolve(msg);
      return;
    }
    if (m.case === "error") {
      if (m.value.pingSeq !== 0n) pings.delete(m.value.pingSeq);
      return;
    }
    ctx.onMessage(msg);
  }

  void (async () => {
    try {
      for await (const msg of client.connect(input, { headers: bearer(ctx.token), signal: abort.signal })) {
        dispatch(msg, ctx.clock.now());
      }
      finish(new ConnectError("the gateway ended the stream", Code.Unavailable));
    } catch (err) {
      // After our own close() or hello timeout, finish() has already run: this end is not ours.
      finish(asConnectionLoss(ConnectError.from(err)));
    }
  })();

  const helloTimer = setTimeout(() => {
    abort.abort();
    finish(new ConnectError("no hello from the gateway in time", Code.DeadlineExceeded));
  }, ctx.requestTimeoutMs);
  try {
    await hello;
  } finally {
    clearTimeout(helloTimer);
  }

  /** The answer's message of the expected kind. */
  const expect = <C extends NonNullable<ServerMessage["message"]["case"]>>(msg: ServerMessage, kind: C) => {
    if (msg.message.case !== kind) throw new ConnectError(`unexpected answer ${String(msg.message.case)}`, Code.Internal);
    return msg.message.value as Extract<ServerMessage["message"], { case: C }>["value"];
  };

  return {
    get sessionId() {
      return sessionId;
    },
    ping(t0) {
      if (ended) return Promise.reject(new ConnectError("the connection is closed", Code.Unavailable));
      const seq = nextPing++;
      const prev = lastPong && { seq: lastPong.seq, clientReceiveTimeMs: lastPong.t3 };
      return new Promise((resolve) => {
        pings.set(seq, { t0, resolve });
        send({ message: { case: "ping", value: { seq, clientSendTimeMs: t0, prev } } });
      });
    },
    async joinRoom(roomCode): Promise<RoomState> {
      return expect(await request({ case: "joinRoom", value: { roomCode } }), "roomState");
    },
    async leaveRoom() {
      expect(await request({ case: "leaveRoom", value: {} }), "roomLeft");
    },
    async getRoomState(): Promise<RoomState> {
      return expect(await request({ case: "getRoomState", value: {} }), "roomState");
    },
    async command(command: Command): Promise<PlaybackState> {
      return expect(await request({ case: "playbackCommand", value: { command } }), "playbackState");
    },
    report(report: SyncReportInit) {
      send({ message: { case: "syncReport", value: report } });
    },
    close() {
      closedByUs = true;
      abort.abort();
      finish(new ConnectError("closed", Code.Canceled));
    },
  };
}
