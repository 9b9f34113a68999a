import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { AuthService } from "../../gen/groovebox/auth/v1/auth_pb.js";
import type { ServerMessage } from "../../gen/groovebox/gateway/v1/gateway_pb.js";
import { PlaybackChange, type PlaybackState } from "../../gen/groovebox/playback/v1/playback_pb.js";
import { RoomService, type RoomState } from "../../gen/groovebox/room/v1/room_pb.js";
import { ClockSync, type ClockSyncOptions } from "./clock/clock-sync.js";
import { performanceClock, type LocalClock } from "./clock/local-clock.js";
import { Emitter } from "./emitter.js";
import type { CorrectionOptions } from "./playback/correction.js";
import { PlaybackFollower, type PlaybackCause } from "./playback/playback-follower.js";
import type { BackoffOptions } from "./session/backoff.js";
import { bearer, type Channel, type ChannelFactory, type Command } from "./session/channel.js";
import { RoomSession, type RoomSessionEvents } from "./session/room-session.js";
import { buildSyncReport } from "./session/sync-reporter.js";
import type { TransportFactory, TransportHandle } from "./transport.js";

/** How to reach the gateway and who the device is. */
export interface GrooveboxClientOptions {
  /** A token from AuthService/Login; without one the client logs in as a guest with displayName. */
  token?: string;
  displayName?: string;
  /**
   * A stable id of this device (keep it across app restarts): the server remembers the
   * device's output latency under it, and a client given a deviceId but no outputLatencyMs
   * takes the remembered one. Default: a random id for this client's life.
   */
  deviceId?: string;
  /** The device's audio output latency (ms); can be changed later with setOutputLatency. */
  outputLatencyMs?: number;
  /** The device's clock. Default: performance.timeOrigin + performance.now(). */
  clock?: LocalClock;
  clockSync?: Partial<ClockSyncOptions>;
  correction?: Partial<CorrectionOptions>;
  reconnect?: Partial<BackoffOptions>;
  /** How often the device sends a sync_report (ms). Default 5000; 0: never. */
  reportIntervalMs?: number;
  /** Requests without an answer for this long fail (ms). Default 10 000. */
  requestTimeoutMs?: number;
  /** How long connect() waits for the clock's first estimate (ms). Default 3000. */
  syncTimeoutMs?: number;
}

/** What carries the client: filled in by the Node and browser entry points. */
export interface ClientEnvironment {
  transport: TransportFactory;
  channel: ChannelFactory;
}

/** A DJ's start: the track, and optionally where in it and how long it is. */
export interface StartOptions {
  positionMs?: number;
  trackDurationMs?: number;
  expectedVersion?: bigint;
}

export type GrooveboxClientEvents = RoomSessionEvents;

const CHANGE_CAUSE: Record<PlaybackChange, PlaybackCause> = {
  [PlaybackChange.UNSPECIFIED]: "state",
  [PlaybackChange.PAUSED]: "paused",
  [PlaybackChange.RESUMED]: "resumed",
  [PlaybackChange.SEEKED]: "seeked",
  [PlaybackChange.STOPPED]: "stopped",
  [PlaybackChange.ENDED]: "ended",
};

const randomDeviceId = () => `dev-${Math.random().toString(36).slice(2, 12)}`;

/** The user id (JWT "sub") of a token, without verifying it (the server does). */
function userIdOf(token: string): string {
  const payload = token.split(".")[1];
  if (payload === undefined) throw new ConnectError("the token is not a JWT", Code.InvalidArgument);
  const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
  return String((JSON.parse(json) as { sub?: unknown }).sub ?? "");
}

/**
 * A groovebox device: connection, room, clock and playback in one object.
 *
 *     const gb = await connectGroovebox({ baseUrl, displayName: "Ada" });
 *     await gb.joinRoom("K7M9P2");
 *     gb.playback.on("update", (u) => u.start && scheduleAudio(u.start.localTimeMs, u.start.positionMs));
 */
export class GrooveboxClient extends Emitter<GrooveboxClientEvents> {
  readonly clock: ClockSync;
  readonly playback: PlaybackFollower;
  readonly deviceId: string;
  private readonly session: RoomSession;
  private handle: TransportHandle;
  /** The first connection attempt reuses the transport login used. */
  private reuseHandle = true;
  private reportTimer: ReturnType<typeof setInterval> | undefined;

  private constructor(
    env: ClientEnvironment,
    private readonly opts: GrooveboxClientOptions,
    readonly token: string,
    readonly userId: string,
    handle: TransportHandle,
  ) {
    super();
    const localClock = opts.clock ?? performanceClock;
    const requestTimeoutMs = opts.requestTimeoutMs ?? 10_000;
    this.handle = handle;
    this.deviceId = opts.deviceId ?? randomDeviceId();
    this.clock = new ClockSync(localClock, opts.clockSync);
    this.playback = new PlaybackFollower(this.clock, { ...opts.correction, outputLatencyMs: opts.outputLatencyMs ?? 0 });
    this.session = new RoomSession({
      requestTimeoutMs,
      reconnect: opts.reconnect,
      now: () => localClock.now(),
      open: (events) => {
        // Each attempt gets a fresh connection (a dropped one may be half-open).
        if (!this.reuseHandle) {
          this.handle.close();
          this.handle = env.transport();
        }
        this.reuseHandle = false;
        return env.channel({ ...events, transport: this.handle.transport, token, clock: localClock, requestTimeoutMs });
      },
    });
    this.wire();
  }

  /** Logs in if needed, connects, and waits (up to syncTimeoutMs) for the clock's first estimate. */
  static async connect(env: ClientEnvironment, opts: GrooveboxClientOptions): Promise<GrooveboxClient> {
    const handle = env.transport();
    let token = opts.token;
    let userId: string;
    try {
      if (token === undefined) {
        if (opts.displayName === undefined) throw new ConnectError("give a token or a displayName", Code.InvalidArgument);
        const res = await createClient(AuthService, handle.transport).login({ displayName: opts.displayName });
        token = res.token;
        userId = res.userId;
      } else {
        userId = userIdOf(token);
      }
    } catch (err) {
      handle.close();
      throw err;
    }
    const client = new GrooveboxClient(env, opts, token, userId, handle);
    try {
      if (opts.outputLatencyMs === undefined && opts.deviceId !== undefined) await client.restoreOutputLatency();
      await client.session.connect();
    } catch (err) {
      client.close();
      throw err;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([client.clock.whenSynced(), new Promise((r) => (timer = setTimeout(r, opts.syncTimeoutMs ?? 3000)))]);
    clearTimeout(timer);
    return client;
  }

  private wire(): void {
    const { session, clock, playback } = this;
    session.on("status", (status, detail) => this.emit("status", status, detail));
    session.on("channel", (channel) => this.emit("channel", channel));
    session.on("room", (state) => this.emit("room", state));
    session.on("event", (msg) => this.emit("event", msg));
    session.on("roomLeft", (info) => this.emit("roomLeft", info));
    session.on("channel", (channel: Channel) => clock.start((t0) => channel.ping(t0)));
    session.on("status", (status) => {
      if (status !== "connected") clock.stop();
      // Ended for good (closed, or a fatal error such as a rejected token): nothing of this
      // client may keep running, or keep a process alive.
      if (status === "closed") this.release();
    });
    session.on("room", (state) => {
      if (state.playback) playback.applyState(state.playback, "state");
    });
    session.on("roomLeft", () => playback.clear());
    session.on("event", (msg: ServerMessage) => {
      const m = msg.message;
      if (m.case === "playbackStarted" && m.value.state) playback.applyState(m.value.state, "started");
      else if (m.case === "playbackChanged" && m.value.state) playback.applyState(m.value.state, CHANGE_CAUSE[m.value.change]);
      else if (m.case === "playbackSync") playback.applySync(m.value);
    });
    playback.on("stale", () => session.refetch());
    // Events that came before the clock could place them in device time are told again.
    clock.on("synced", () => playback.refresh());
    const interval = this.opts.reportIntervalMs ?? 5000;
    if (interval > 0) {
      this.reportTimer = setInterval(() => this.sendReport(), interval);
      // The room sizes its start buffer by its members' output latencies (from these reports):
      // a device tells it as soon as it can, not up to an interval later.
      clock.on("synced", () => this.sendReport());
      session.on("room", () => this.sendReport());
    }
  }

  /** Sends a sync_report now (also done every reportIntervalMs). */
  sendReport(): void {
    const channel = this.session.currentChannel;
    const estimate = this.clock.estimate();
    if (channel === undefined || estimate === undefined) return;
    channel.report(
      buildSyncReport({ estimate, outputLatencyMs: this.playback.outputLatencyMs, quality: this.playback.quality, deviceId: this.deviceId }),
    );
  }

  /** The connection's status. */
  get status() {
    return this.session.connectionStatus;
  }

  /** The room's state (members, DJ, timeline), kept current by its events; undefined when not in a room. */
  get room(): RoomState | undefined {
    return this.session.roomState;
  }

  /**
   * Takes the output latency the server remembers for this user's device (from its earlier
   * sync reports), if any; true when there was one.
   */
  async restoreOutputLatency(): Promise<boolean> {
    const rooms = createClient(RoomService, this.handle.transport);
    try {
      const device = await rooms.getDevice({ deviceId: this.deviceId }, { headers: bearer(this.token) });
      this.playback.outputLatencyMs = device.outputLatencyMs;
      return true;
    } catch (err) {
      if (ConnectError.from(err).code === Code.NotFound) return false;
      throw err;
    }
  }

  /**
   * Sets the device's audio output latency (ms), e.g. Web Audio's outputLatency * 1000, and
   * tells the room at once when it changed (unless reports are off): its next start leaves room
   * for it. Apps may call it as often as they read their output (the page does every 2 s).
   */
  setOutputLatency(ms: number): void {
    if (ms === this.playback.outputLatencyMs) return;
    this.playback.outputLatencyMs = ms;
    if (this.reportTimer !== undefined) this.sendReport();
  }

  /** Creates a room (this user is its DJ) and joins it. */
  async createRoom(name = ""): Promise<RoomState> {
    const rooms = createClient(RoomService, this.handle.transport);
    const res = await rooms.createRoom({ name }, { headers: bearer(this.token) });
    if (res.state === undefined) throw new ConnectError("the gateway sent no room state", Code.Internal);
    return this.joinRoom(res.state.roomCode);
  }

  /** Joins the room with this code (and stays in it across reconnects). */
  joinRoom(roomCode: string): Promise<RoomState> {
    return this.session.joinRoom(roomCode);
  }

  /** Leaves the room. */
  leaveRoom(): Promise<void> {
    return this.session.leaveRoom();
  }

  /** DJ: starts a track for the room. */
  start(trackId: string, opts: StartOptions = {}): Promise<PlaybackState> {
    return this.command({ case: "start", value: { trackId, ...opts } }, "started");
  }

  /** DJ: pauses. */
  pause(): Promise<PlaybackState> {
    return this.command({ case: "pause", value: {} }, "paused");
  }

  /** DJ: resumes. */
  resume(): Promise<PlaybackState> {
    return this.command({ case: "resume", value: {} }, "resumed");
  }

  /** DJ: moves the room to a position (ms). */
  seek(positionMs: number): Promise<PlaybackState> {
    return this.command({ case: "seek", value: { positionMs } }, "seeked");
  }

  /** DJ: stops. */
  stop(): Promise<PlaybackState> {
    return this.command({ case: "stop", value: {} }, "stopped");
  }

  private async command(command: Command, cause: PlaybackCause): Promise<PlaybackState> {
    const state = await this.session.withChannel((ch) => ch.command(command));
    this.playback.applyState(state, cause);
    return state;
  }

  /** Disconnects for good. */
  close(): void {
    this.session.close();
    this.release();
  }

  /** Stops the timers and closes the connection (again: harmless). */
  private release(): void {
    clearInterval(this.reportTimer);
    this.clock.stop();
    this.handle.close();
  }
}
