import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { GatewayService, type ClientMessage } from "../../gen/groovebox/gateway/v1/gateway_pb.js";
import { requireUser } from "../common/auth/gate.js";
import type { ClockSource } from "../common/clock-source.js";
import { requestReadError, toConnectError } from "../common/errors.js";
import { newId } from "../common/ids.js";
import type { Logger } from "../common/logger.js";
import { requireId } from "../common/validate.js";
import type { ClientMessageHandler } from "./client-messages.js";
import type { GatewayMetrics } from "./metrics.js";
import type { RoomRequests } from "./room-requests.js";
import { StreamSession, type ServerMessageInit, type StreamLimits } from "./stream-session.js";

export interface GatewayServiceDeps {
  clock: ClockSource;
  logger: Logger;
  metrics: GatewayMetrics;
  handleClientMessage: ClientMessageHandler;
  rooms: RoomRequests;
  limits: StreamLimits & { maxStreamsPerUser: number; maxMessageBytes: number };
}

/**
 * GatewayService: Connect (a device's bidirectional stream) and Subscribe (a browser's
 * server stream). Both open a StreamSession, send hello, then write whatever the session
 * queues; Connect also reads the client's messages.
 */
export function createGatewayService(deps: GatewayServiceDeps): ServiceImpl<typeof GatewayService> {
  const { clock, metrics, limits } = deps;
  const streamsPerUser = new Map<string, number>();

  /** Opens a session for the caller: enforces the per-user stream limit; `close` undoes it. */
  function openSession(ctx: HandlerContext, kind: "connect" | "subscribe") {
    const user = requireUser(ctx);
    const open = streamsPerUser.get(user.userId) ?? 0;
    if (open >= limits.maxStreamsPerUser) {
      throw new ConnectError(`at most ${limits.maxStreamsPerUser} streams per user`, Code.ResourceExhausted);
    }
    streamsPerUser.set(user.userId, open + 1);
    metrics.streams.inc({ kind });
    const session = new StreamSession(newId(), user, ctx.requestHeader.get("authorization") ?? "", limits, clock.now());
    session.onGap = (s) => s.runInOrder("", () => deps.rooms.state(s, ""));
    // Client gone, deadline, or server shutdown: end the writer with the reason.
    const abort = () => session.fail(ctx.signal.reason);
    ctx.signal.addEventListener("abort", abort, { once: true });
    const close = () => {
      ctx.signal.removeEventListener("abort", abort);
      metrics.streams.dec({ kind });
      const left = (streamsPerUser.get(user.userId) ?? 1) - 1;
      if (left === 0) streamsPerUser.delete(user.userId);
      else streamsPerUser.set(user.userId, left);
      deps.rooms.release(session);
    };
    return { session, close };
  }

  /** Writes the session's messages until it ends; stamps t2 of each pong just before it goes. */
  async function* writeMessages(session: StreamSession): AsyncGenerator<ServerMessageInit> {
    yield {
      message: {
        case: "hello",
        value: {
          sessionId: session.id,
          userId: session.user.userId,
          serverTimestamp: clock.now(),
          maxPingsPerSecond: limits.maxPingsPerSecond,
          maxMessageBytes: limits.maxMessageBytes,
        },
      },
    };
    for (;;) {
      const next = await session.nextOutbound();
      if (next.done) return;
      const msg = next.value;
      if (msg.message?.case === "pong") {
        const pong = msg.message.value;
        const t2 = clock.now();
        pong.serverSendTimeMs = t2;
        session.rememberPong(pong.seq as bigint, pong.clientSendTimeMs as number, pong.serverReceiveTimeMs as number, t2);
        metrics.pings.inc();
        metrics.pongTurnaround.observe((t2 - (pong.serverReceiveTimeMs as number)) / 1000);
      }
      yield msg;
    }
  }

  /** Reads the client's messages into the session; the end of input closes it after pending requests. */
  async function readMessages(requests: AsyncIterable<ClientMessage>, session: StreamSession): Promise<void> {
    try {
      for await (const msg of requests) deps.handleClientMessage(session, msg, clock.now());
      await session.settled();
      session.close();
    } catch (err) {
      session.fail(requestReadError(err));
    }
  }

  /**
   * Serves one stream: opens its session, lets `begin` start the input side, writes the
   * session's messages, maps a failure to its status, and always releases the session.
   */
  async function* serve(ctx: HandlerContext, kind: "connect" | "subscribe", begin: (session: StreamSession) => void) {
    let opened: ReturnType<typeof openSession> | undefined;
    try {
      opened = openSession(ctx, kind);
      begin(opened.session);
      yield* writeMessages(opened.session);
      metrics.streamsEnded.inc({ reason: "closed" });
    } catch (err) {
      const e = toConnectError(err, deps.logger.child({ sessionId: opened?.session.id, roomId: opened?.session.roomId }));
      metrics.streamsEnded.inc({ reason: Code[e.code] ?? "unknown" });
      throw e;
    } finally {
      opened?.close();
    }
  }

  return {
    connect: (requests, ctx) => serve(ctx, "connect", (session) => void readMessages(requests, session)),

    subscribe: (req, ctx) =>
      serve(ctx, "subscribe", (session) => {
        const roomId = requireId(req.roomId, "room_id");
        session.runInOrder("", () => deps.rooms.subscribe(session, roomId));
      }),
  };
}
