import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Transport } from "@connectrpc/connect";
import type { SyncReportSchema } from "../../../gen/groovebox/clock/v1/clock_pb.js";
import type { PlaybackCommandSchema, ServerMessage } from "../../../gen/groovebox/gateway/v1/gateway_pb.js";
import type { PlaybackState } from "../../../gen/groovebox/playback/v1/playback_pb.js";
import type { RoomState } from "../../../gen/groovebox/room/v1/room_pb.js";
import type { ExchangeTimes } from "../clock/clock-filter.js";
import type { LocalClock } from "../clock/local-clock.js";

export type SyncReportInit = MessageInitShape<typeof SyncReportSchema>;
/** A DJ command, as on the gateway stream (room_id may be left empty: the current room). */
export type Command = Exclude<NonNullable<MessageInitShape<typeof PlaybackCommandSchema>["command"]>, { case: undefined }>;

/**
 * One connection to the gateway, whatever carries it: the bidirectional Connect stream
 * (native, Node) or unary calls plus a Subscribe stream (browsers). A channel is used until it
 * closes; the session then opens a new one. Requests reject with a ConnectError.
 */
export interface Channel {
  /** The gateway's id for this connection's stream ("" until there is one). */
  readonly sessionId: string;
  /**
   * One clock ping sent at device time t0: the exchange, with the server's stamps and the
   * arrival time t3 (t0 and t3 may be the transport's own, tighter stamps: see network-stamps.ts).
   */
  ping(t0: number): Promise<ExchangeTimes>;
  /** Joins (or re-attaches to) the room with this code: its state, from which events follow. */
  joinRoom(roomCode: string): Promise<RoomState>;
  /** Leaves the room now. */
  leaveRoom(): Promise<void>;
  /** The room's state again (after a gap in sequence numbers). */
  getRoomState(): Promise<RoomState>;
  /** A DJ command; the timeline after it. */
  command(command: Command): Promise<PlaybackState>;
  /** Sends a sync report (not answered). */
  report(report: SyncReportInit): void;
  /** Closes the connection; onClosed is not called for it. */
  close(): void;
}

/** What a channel tells its session. */
export interface ChannelEvents {
  /** A room event, a pushed room_state (after a server-side gap) or room_left. */
  onMessage(message: ServerMessage): void;
  /** The connection ended on its own (the server, the network); the session reconnects. */
  onClosed(error: Error): void;
}

/** Everything a channel needs to open. */
export interface ChannelContext extends ChannelEvents {
  transport: Transport;
  token: string;
  clock: LocalClock;
  /** Requests without an answer for this long fail with DEADLINE_EXCEEDED (ms). */
  requestTimeoutMs: number;
}

/** Opens a channel; resolves once it is usable. */
export type ChannelFactory = (ctx: ChannelContext) => Promise<Channel>;

/** The Authorization header of a token. */
export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
