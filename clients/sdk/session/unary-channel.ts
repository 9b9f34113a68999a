import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { ClockService } from "../../../gen/groovebox/clock/v1/clock_pb.js";
import { GatewayService, type ServerMessage } from "../../../gen/groovebox/gateway/v1/gateway_pb.js";
import { PlaybackService, type PlaybackState } from "../../../gen/groovebox/playback/v1/playback_pb.js";
import { RoomService, type RoomState } from "../../../gen/groovebox/room/v1/room_pb.js";
import { performanceClock } from "../clock/local-clock.js";
import { bearer, type Channel, type ChannelContext, type Command, type SyncReportInit } from "./channel.js";
import { asConnectionLoss } from "./connection-loss.js";
import { createNetworkStamper } from "./resource-timing.js";

/**
 * A channel for clients that cannot send on a stream (browsers): requests are unary calls,
 * clock samples come from unary ClockService/Ping, and the room's events arrive on
 * GatewayService/Subscribe, opened when the room is joined.
 */
export async function openUnaryChannel(ctx: ChannelContext): Promise<Channel> {
  const opts = () => ({ headers: bearer(ctx.token), timeoutMs: ctx.requestTimeoutMs });
  const clock = createClient(ClockService, ctx.transport);
  const rooms = createClient(RoomService, ctx.transport);
  const playback = createClient(PlaybackService, ctx.transport);
  const gateway = createClient(GatewayService, ctx.transport);
  let roomId = "";
  let sessionId = "";
  let subscription: AbortController | undefined;
  let closed = false;

  /** Follows the room's events; resolves with the first room_state. */
  function subscribe(id: string): Promise<RoomState> {
    subscription?.abort();
    const abort = new AbortController();
    subscription = abort;
    return new Promise<RoomState>((resolve, reject) => {
      let first = true;
      void (async () => {
        try {
          for await (const msg of gateway.subscribe({ roomId: id }, { headers: bearer(ctx.token), signal: abort.signal })) {
            if (msg.message.case === "hello") sessionId = msg.message.value.sessionId;
            else if (first && msg.message.case === "roomState") {
              first = false;
              resolve(msg.message.value);
            } else if (!first) ctx.onMessage(msg as ServerMessage);
          }
          throw new ConnectError("the gateway ended the subscription", Code.Unavailable);
        } catch (err) {
          // Ended by us (leave, close, a new subscription) or not: only the latter is a drop.
          const dropped = !abort.signal.aborted && !closed;
          const e = dropped ? asConnectionLoss(ConnectError.from(err)) : ConnectError.from(err);
          if (first) reject(e);
          if (dropped) {
            stamper?.close();
            ctx.onClosed(e);
          }
        }
      })();
    });
  }

  /** A stream's playback command as the matching PlaybackService call (the request types match). */
  function sendCommand(command: Command, id: string): Promise<{ state?: PlaybackState }> {
    switch (command.case) {
      case "start":
        return playback.start({ ...command.value, roomId: id }, opts());
      case "pause":
        return playback.pause({ ...command.value, roomId: id }, opts());
      case "resume":
        return playback.resume({ ...command.value, roomId: id }, opts());
      case "seek":
        return playback.seek({ ...command.value, roomId: id }, opts());
      case "stop":
        return playback.stop({ ...command.value, roomId: id }, opts());
    }
  }

  function requireRoom(): string {
    if (roomId === "") throw new ConnectError("not in a room", Code.FailedPrecondition);
    return roomId;
  }

  // The gateway answers: fail now, not at the first request.
  await clock.ping({ clientSendTimeMs: ctx.clock.now() }, { timeoutMs: ctx.requestTimeoutMs });
  // In a browser, pings are stamped by its network stack where it can (the transport's
  // noteFetchCall interceptor and Resource Timing): those stamps are on the performance clock.
  // Until the channel closes or drops.
  const stamper = ctx.clock === performanceClock ? createNetworkStamper() : undefined;

  return {
    get sessionId() {
      return sessionId;
    },
    async ping(t0) {
      const stamped = stamper?.ping();
      const res = await clock.ping({ clientSendTimeMs: t0 }, { timeoutMs: ctx.requestTimeoutMs, contextValues: stamped?.contextValues });
      const exchange = { t0, t1: res.serverReceiveTimeMs, t2: res.serverSendTimeMs, t3: ctx.clock.now() };
      return stamped === undefined ? exchange : stamped.stamp(exchange);
    },
    async joinRoom(roomCode) {
      const joined = await rooms.joinRoom({ roomCode }, opts());
      if (joined.state === undefined) throw new ConnectError("the gateway sent no room state", Code.Internal);
      roomId = joined.state.roomId;
      return subscribe(roomId);
    },
    async leaveRoom() {
      const id = requireRoom();
      await rooms.leaveRoom({ roomId: id }, opts());
      roomId = "";
      subscription?.abort();
    },
    async getRoomState() {
      const res = await rooms.getRoomState({ roomId: requireRoom() }, opts());
      if (res.state === undefined) throw new ConnectError("the gateway sent no room state", Code.Internal);
      return res.state;
    },
    async command(command: Command): Promise<PlaybackState> {
      const roomId = command.value.roomId || requireRoom();
      const res = await sendCommand(command, roomId);
      if (res.state === undefined) throw new ConnectError("the gateway sent no playback state", Code.Internal);
      return res.state;
    },
    report(report: SyncReportInit) {
      if (roomId === "") return;
      // Not answered on the stream either: a lost report is replaced by the next one.
      rooms.reportSync({ roomId, report }, opts()).catch(() => {});
    },
    close() {
      closed = true;
      subscription?.abort();
      stamper?.close();
    },
  };
}
