import { Code, ConnectError } from "@connectrpc/connect";
import type { ServerMessage } from "../../../gen/groovebox/gateway/v1/gateway_pb.js";
import { LeaveReason, type RoomState } from "../../../gen/groovebox/room/v1/room_pb.js";
import { Emitter } from "../emitter.js";
import { Backoff, DEFAULT_BACKOFF, type BackoffOptions } from "./backoff.js";
import type { Channel, ChannelEvents } from "./channel.js";
import { applyRoomEvent } from "./room-view.js";

/** Where the connection stands. */
export type ConnectionStatus = "connecting" | "connected" | "reconnecting" | "closed";

export interface StatusDetail {
  /** For reconnecting: the attempt number (1 = first retry) and the wait before it (ms). */
  attempt?: number;
  delayMs?: number;
  /**
   * Why the connection was lost (reconnecting), or why the session ended by itself (closed: an
   * error retrying cannot help, e.g. UNAUTHENTICATED); unset when the app closed it.
   */
  error?: Error;
}

export interface RoomSessionEvents {
  status(status: ConnectionStatus, detail: StatusDetail): void;
  /** A new channel is open (the clock pings on it). */
  channel(channel: Channel): void;
  /** The room's whole state: on join, on resume after a reconnect, and after a gap. */
  room(state: RoomState): void;
  /** A room event, in order, never twice. */
  event(message: ServerMessage): void;
  /** The device is out of its room (it left, elsewhere too, or its membership ran out). */
  roomLeft(info: { roomId: string; reason: LeaveReason }): void;
}

export interface RoomSessionOptions {
  /** Opens a channel that reports to these events. */
  open(events: ChannelEvents): Promise<Channel>;
  reconnect?: Partial<BackoffOptions>;
  /** How long a request waits for a connection while reconnecting (ms). */
  requestTimeoutMs: number;
  /** Monotonic time for connection lifetimes (ms). */
  now(): number;
  random?: () => number;
}

/** Errors after which retrying cannot help. */
const FATAL = new Set([Code.Unauthenticated]);

/**
 * A device's connection to its room, kept alive: it reconnects with backoff and jitter when
 * the connection drops, and resumes: the new connection joins the room again by its code
 * (the server sees the same member attach a new stream, so nobody leaves or joins), and the
 * state it answers with replaces whatever was missed. Events are passed on in sequence; a gap
 * (an event missed) makes it fetch the state again.
 */
export class RoomSession extends Emitter<RoomSessionEvents> {
  private channel: Channel | undefined;
  private openedAt = 0;
  private readonly backoff: Backoff;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private status: ConnectionStatus = "connecting";
  private closed = false;
  private roomCode: string | undefined;
  private room: RoomState | undefined;
  private lastSeq = 0n;
  private refetching = false;
  private waiters: Array<{ resolve(c: Channel): void; reject(e: Error): void }> = [];
  private firstConnect: { resolve(): void; reject(e: Error): void } | undefined;

  constructor(private readonly opts: RoomSessionOptions) {
    super();
    this.backoff = new Backoff({ ...DEFAULT_BACKOFF, ...opts.reconnect }, opts.random);
  }

  /** Connects (retrying with backoff while the gateway is unreachable); rejects on a fatal error or close(). */
  connect(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.firstConnect = { resolve, reject };
      void this.attempt();
    });
  }

  /** The connection's status now. */
  get connectionStatus(): ConnectionStatus {
    return this.status;
  }

  /** The room's state, kept current by its events; undefined when not in a room. */
  get roomState(): RoomState | undefined {
    return this.room;
  }

  /** The current channel, if connected. */
  get currentChannel(): Channel | undefined {
    return this.channel;
  }

  /** Joins the room with this code; the device stays in it across reconnects until it leaves. */
  async joinRoom(roomCode: string): Promise<RoomState> {
    const state = await this.withChannel((ch) => ch.joinRoom(roomCode));
    this.roomCode = roomCode;
    this.applyRoomState(state);
    return state;
  }

  /** Leaves the room now. */
  async leaveRoom(): Promise<void> {
    await this.withChannel((ch) => ch.leaveRoom());
    const roomId = this.room?.roomId ?? "";
    this.forgetRoom();
    this.emit("roomLeft", { roomId, reason: LeaveReason.LEFT });
  }

  /** Runs a request on the channel, waiting for one while reconnecting. */
  async withChannel<T>(run: (channel: Channel) => Promise<T>): Promise<T> {
    return run(await this.waitForChannel());
  }

  /** Fetches the room's state again (a gap, or a tick from a newer timeline). */
  refetch(): void {
    const ch = this.channel;
    if (ch === undefined || this.room === undefined || this.refetching) return;
    this.refetching = true;
    ch.getRoomState()
      .then((state) => this.applyRoomState(state))
      .catch(() => {
        // The next gap or reconnect tries again.
      })
      .finally(() => {
        this.refetching = false;
      });
  }

  /** Disconnects for good. */
  close(): void {
    this.end(undefined);
  }

  /**
   * Ends the session for good: closed by the app, or after an error retrying cannot help,
   * which the "closed" status carries (and which connect() and waiting requests reject with).
   */
  private end(fatal: ConnectError | undefined): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.channel?.close();
    this.channel = undefined;
    const err = fatal ?? new ConnectError("the client was closed", Code.Canceled);
    this.firstConnect?.reject(err);
    this.firstConnect = undefined;
    for (const w of this.waiters.splice(0)) w.reject(err);
    this.setStatus("closed", fatal ? { error: fatal } : {});
  }

  private setStatus(status: ConnectionStatus, detail: StatusDetail): void {
    this.status = status;
    this.emit("status", status, detail);
  }

  private waitForChannel(): Promise<Channel> {
    if (this.channel) return Promise.resolve(this.channel);
    if (this.closed) return Promise.reject(new ConnectError("the client was closed", Code.Canceled));
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (c: Channel) => {
          clearTimeout(timer);
          resolve(c);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new ConnectError("not connected to the gateway", Code.Unavailable));
      }, this.opts.requestTimeoutMs);
      this.waiters.push(waiter);
    });
  }

  private async attempt(): Promise<void> {
    if (this.closed) return;
    let channel: Channel | undefined;
    // Only the current channel speaks for the session. A channel that fails while opening
    // reports its end too, before `channel` is set (when this.channel is also undefined): that
    // failure is the open's, retried below, and taking it as a loss as well would start a
    // second chain of attempts, each aborting the other's connection.
    const current = () => channel !== undefined && this.channel === channel;
    try {
      channel = await this.opts.open({
        onMessage: (msg) => {
          if (current()) this.handle(msg);
        },
        onClosed: (err) => {
          if (current()) this.lost(err);
        },
      });
      if (this.closed) {
        channel.close();
        return;
      }
      // Resume: the room is joined again before anyone sees the new channel, so requests
      // and events continue from a fresh state.
      if (this.roomCode !== undefined) {
        try {
          this.applyRoomState(await channel.joinRoom(this.roomCode));
        } catch (err) {
          const e = ConnectError.from(err);
          if (e.code !== Code.NotFound && e.code !== Code.PermissionDenied) throw e;
          const roomId = this.room?.roomId ?? "";
          this.forgetRoom();
          this.emit("roomLeft", { roomId, reason: LeaveReason.TIMED_OUT });
        }
      }
    } catch (err) {
      channel?.close();
      const e = ConnectError.from(err);
      if (FATAL.has(e.code)) {
        this.end(e);
        return;
      }
      this.retry(e);
      return;
    }
    this.channel = channel;
    this.openedAt = this.opts.now();
    this.setStatus("connected", {});
    this.emit("channel", channel);
    this.firstConnect?.resolve();
    this.firstConnect = undefined;
    for (const w of this.waiters.splice(0)) w.resolve(channel);
  }

  private lost(err: Error): void {
    this.channel = undefined;
    this.backoff.connectionEnded(this.opts.now() - this.openedAt);
    const e = ConnectError.from(err);
    if (FATAL.has(e.code)) {
      this.end(e);
      return;
    }
    this.retry(e);
  }

  private retry(error: Error): void {
    if (this.closed) return;
    const delayMs = this.backoff.next();
    this.setStatus("reconnecting", { attempt: this.backoff.attempts, delayMs, error });
    this.retryTimer = setTimeout(() => void this.attempt(), delayMs);
  }

  private forgetRoom(): void {
    this.roomCode = undefined;
    this.room = undefined;
    this.lastSeq = 0n;
  }

  private applyRoomState(state: RoomState): void {
    this.room = state;
    this.lastSeq = state.seq;
    this.emit("room", state);
  }

  private handle(msg: ServerMessage): void {
    const m = msg.message;
    if (m.case === "roomState") {
      if (this.room !== undefined && m.value.roomId === this.room.roomId) this.applyRoomState(m.value);
      return;
    }
    if (m.case === "roomLeft") {
      if (m.value.roomId !== this.room?.roomId) return;
      if (m.value.reason === LeaveReason.TIMED_OUT && this.roomCode !== undefined) {
        // The server dropped this stream's membership (its lease ran out while the link was
        // down): this device did not ask to leave, so it joins again.
        const code = this.roomCode;
        const roomId = m.value.roomId;
        this.channel?.joinRoom(code).then(
          (state) => this.applyRoomState(state),
          () => {
            this.forgetRoom();
            this.emit("roomLeft", { roomId, reason: LeaveReason.TIMED_OUT });
          },
        );
        return;
      }
      this.forgetRoom();
      this.emit("roomLeft", { roomId: m.value.roomId, reason: m.value.reason });
      return;
    }
    if (msg.seq === 0n || this.room === undefined) return;
    if (msg.seq <= this.lastSeq) return;
    if (msg.seq > this.lastSeq + 1n) this.refetch();
    this.lastSeq = msg.seq;
    this.room = applyRoomEvent(this.room, msg);
    this.emit("event", msg);
  }
}
