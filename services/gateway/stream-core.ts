import { Code, ConnectError } from "@connectrpc/connect";
import type { ClientMessage } from "../../gen/groovebox/gateway/v1/gateway_pb.js";
import type { ClockSource } from "../common/clock-source.js";
import { newId } from "../common/ids.js";
import type { ClientMessageHandler } from "./client-messages.js";
import { PONG_TURNAROUND_SAMPLE_EVERY, type GatewayMetrics } from "./metrics.js";
import type { RoomRequests } from "./room-requests.js";
import type { StreamLeases } from "./stream-leases.js";
import { StreamSession, type ServerMessageInit, type StreamLimits } from "./stream-session.js";

export type StreamKind = "connect" | "subscribe";

export interface StreamCoreDeps {
  clock: ClockSource;
  metrics: GatewayMetrics;
  handleClientMessage: ClientMessageHandler;
  rooms: RoomRequests;
  /** Streams per user across gateways (Redis); the count here is this gateway's own. */
  leases: StreamLeases;
  limits: StreamLimits & { maxStreamsPerUser: number; maxMessageBytes: number };
}

/**
 * What every client stream does, whatever carries it (connect-es for Connect and gRPC-Web,
 * or the gateway's own gRPC path): open a session under the per-user limit and greet the
 * client, take its messages, stamp pongs as they leave, and release the session at the end.
 */
export function createStreamCore(deps: StreamCoreDeps) {
  const { clock, metrics, limits } = deps;
  const streamsPerUser = new Map<string, number>();
  let pongsSent = 0;

  return {
    /**
     * Opens a session for an authenticated user and queues hello. RESOURCE_EXHAUSTED when the
     * user has too many streams, here or on all gateways together. `close` must be called once
     * when the stream ends.
     */
    async open(user: { userId: string; displayName: string }, authorization: string, kind: StreamKind) {
      const open = streamsPerUser.get(user.userId) ?? 0;
      if (open >= limits.maxStreamsPerUser) {
        throw new ConnectError(`at most ${limits.maxStreamsPerUser} streams per user`, Code.ResourceExhausted);
      }
      // Held here while the lease is asked for, so concurrent opens count each other.
      streamsPerUser.set(user.userId, open + 1);
      const forget = () => {
        const left = (streamsPerUser.get(user.userId) ?? 1) - 1;
        if (left === 0) streamsPerUser.delete(user.userId);
        else streamsPerUser.set(user.userId, left);
      };
      const sessionId = newId();
      try {
        await deps.leases.acquire(user.userId, sessionId);
      } catch (err) {
        forget();
        throw err;
      }
      metrics.streams.inc({ kind });
      const session = new StreamSession(sessionId, user, authorization, limits, clock.now());
      session.send({
        message: {
          case: "hello",
          value: {
            sessionId: session.id,
            userId: user.userId,
            serverTimestamp: clock.now(),
            maxPingsPerSecond: limits.maxPingsPerSecond,
            maxMessageBytes: limits.maxMessageBytes,
          },
        },
      });
      const close = (reason: string) => {
        if (session.ended) return;
        session.ended = true;
        metrics.streams.dec({ kind });
        metrics.streamsEnded.inc({ reason });
        forget();
        deps.leases.release(session.id);
        // A join still in progress finishes first, so what it set up is undone too.
        void session.settled().then(() => deps.rooms.release(session));
      };
      return { session, close };
    },

    /** A client message, received at `receivedAtMs` (stamped before anything else). */
    receive(session: StreamSession, msg: ClientMessage, receivedAtMs: number): void {
      deps.handleClientMessage(session, msg, receivedAtMs);
    },

    /** Browsers' Subscribe: the session joins the room by id. */
    subscribe(session: StreamSession, roomId: string): void {
      session.runInOrder("", () => deps.rooms.subscribe(session, roomId));
    },

    /**
     * Called by a stream's writer with each message just before it goes to the wire: a pong
     * gets its send stamp (t2) here, and is remembered for the sample the next ping completes.
     */
    departing(session: StreamSession, msg: ServerMessageInit): void {
      if (msg.message?.case !== "pong") return;
      const pong = msg.message.value;
      const t2 = clock.now();
      pong.serverSendTimeMs = t2;
      session.rememberPong(pong.seq as bigint, pong.clientSendTimeMs as number, pong.serverReceiveTimeMs as number, t2);
      metrics.pings.inc();
      if (++pongsSent % PONG_TURNAROUND_SAMPLE_EVERY === 0) metrics.pongTurnaround.observe((t2 - (pong.serverReceiveTimeMs as number)) / 1000);
    },

    /** The clock every stamp comes from. */
    now: () => clock.now(),
  };
}

export type StreamCore = ReturnType<typeof createStreamCore>;
