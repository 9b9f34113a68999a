import type { PlaybackState, PlaybackSync } from "../../../gen/groovebox/playback/v1/playback_pb.js";
import { Emitter } from "../emitter.js";
import { decideCorrection, DEFAULT_CORRECTION_OPTIONS, type CorrectionOptions, type CorrectionTier } from "./correction.js";
import { position, timelineOf, type Timeline } from "./timeline.js";

/** The SDK's clock as the follower needs it. */
export interface ServerClock {
  readonly synced: boolean;
  toServer(localMs: number): number;
  toLocal(serverMs: number): number;
  estimate(): { driftPpm: number } | undefined;
}

/** Why the timeline changed. */
export type PlaybackCause = "state" | "started" | "paused" | "resumed" | "seeked" | "stopped" | "ended" | "sync";

/** What the app hears about: the room's timeline, and when to start, in its own clock. */
export interface PlaybackUpdate {
  cause: PlaybackCause;
  timeline: Timeline;
  /**
   * While playing: the device time to start feeding the track's first sample (its output
   * latency already taken off), and the position of that sample. For a track that started
   * before this device knew of it (a late join), startLocalMs is in the past: start now, at
   * positionAt(now + your scheduling lead).
   */
  start?: { localTimeMs: number; positionMs: number };
}

/** What the app should do about its position. */
export interface Correction {
  tier: CorrectionTier;
  /** The app's position minus where it should be (ms): positive means ahead. */
  errorMs: number;
  /**
   * The playback rate to use from now: the device clock's drift against the server, times
   * the nudge. 1.0001 means play 0.01 % fast.
   */
  rate: number;
  /** For a seek: the position that belongs at the reported instant. */
  seekToMs?: number;
}

export interface PlaybackFollowerEvents {
  /** The timeline changed (or was confirmed by a sync tick): reschedule or check. */
  update(update: PlaybackUpdate): void;
  /** A correction was decided. */
  correction(correction: Correction): void;
  /** A sync tick or event showed a newer timeline than this device has: refetch the state. */
  stale(): void;
}

/** Corrections decided so far, by tier. */
export type CorrectionCounts = Record<CorrectionTier, number>;

/**
 * Follows the room's timeline (playback_started, playback_changed, room_state, playback_sync)
 * and answers, in the device's own clock, when to start and where the track should be. It
 * plays nothing: the app plugs in its audio, tells it the device's output latency, reports its
 * position and applies the corrections.
 */
export class PlaybackFollower extends Emitter<PlaybackFollowerEvents> {
  private current: Timeline | undefined;
  private roomId = "";
  private latencyMs: number;
  private lastTier: CorrectionTier = "in-sync";
  private lastErrorMs = 0;
  private readonly opts: CorrectionOptions;
  readonly counts: CorrectionCounts = { "in-sync": 0, nudge: 0, seek: 0 };

  constructor(
    private readonly clock: ServerClock,
    opts: Partial<CorrectionOptions> & { outputLatencyMs?: number } = {},
  ) {
    super();
    this.opts = { ...DEFAULT_CORRECTION_OPTIONS, ...opts };
    this.latencyMs = opts.outputLatencyMs ?? 0;
  }

  /** The timeline in server time; undefined before the first state. */
  get timeline(): Timeline | undefined {
    return this.current;
  }

  /** The device's audio output latency (ms): sound leaves the speaker this long after it is fed. */
  get outputLatencyMs(): number {
    return this.latencyMs;
  }

  set outputLatencyMs(ms: number) {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError("output latency must be a finite number >= 0");
    this.latencyMs = ms;
    if (this.current) this.announce("state");
  }

  /** The last correction's tier and error, for sync reports; "idle" when nothing plays. */
  get quality(): { tier: CorrectionTier | "idle"; errorMs: number } {
    return this.current?.playing ? { tier: this.lastTier, errorMs: this.lastErrorMs } : { tier: "idle", errorMs: 0 };
  }

  /**
   * A full state (join, refetch, command answer, event): taken when newer than what is held
   * (versions count per room; the same version is the same timeline).
   */
  applyState(state: PlaybackState, cause: PlaybackCause = "state"): void {
    const next = timelineOf(state);
    if (this.current && state.roomId === this.roomId && next.version <= this.current.version) return;
    this.current = next;
    this.roomId = state.roomId;
    this.announce(cause);
  }

  /** Tells the app the current timeline again (e.g. once the clock can place it in device time). */
  refresh(): void {
    if (this.current) this.announce("state");
  }

  /** A sync tick: confirms (or re-anchors) the timeline; a newer version means a missed event. */
  applySync(tick: PlaybackSync): void {
    const version = Number(tick.version);
    const t = this.current;
    if (t === undefined || version > t.version) {
      this.emit("stale");
      return;
    }
    if (version < t.version || !t.playing || tick.trackId !== t.trackId) return;
    // The server's position is the reference; a difference means the held anchor drifted
    // from the stored one (it cannot otherwise): take the tick's.
    if (Math.abs(position(t, tick.serverTimestamp) - tick.theoreticalPosition) > 0.001) {
      this.current = { ...t, anchorPositionMs: tick.theoreticalPosition, anchorTimeMs: tick.serverTimestamp };
    }
    this.announce("sync");
  }

  /** Forgets the timeline (the device left the room). */
  clear(): void {
    this.current = undefined;
    this.roomId = "";
  }

  /**
   * Where the track should be in the audio fed to the output at device time `localMs`: the
   * position the room hears when that audio leaves the speaker, output latency later.
   * Undefined when nothing is loaded or the clock is not synchronised yet.
   */
  positionAt(localMs: number): number | undefined {
    const t = this.current;
    if (t === undefined || t.trackId === "" || !this.clock.synced) return undefined;
    return position(t, this.clock.toServer(localMs + this.latencyMs));
  }

  /**
   * The app reports that at device time `localTimeMs` it was feeding position `positionMs`;
   * the answer says whether to leave it, nudge the rate, or seek.
   */
  correct(report: { localTimeMs: number; positionMs: number }): Correction {
    const expected = this.positionAt(report.localTimeMs);
    const driftPpm = this.clock.estimate()?.driftPpm ?? 0;
    const baseRate = 1 + driftPpm * 1e-6;
    if (expected === undefined || !this.current?.playing) return { tier: "in-sync", errorMs: 0, rate: 1 };
    const errorMs = report.positionMs - expected;
    const decision = decideCorrection(errorMs, this.opts, this.lastTier);
    this.lastTier = decision.tier;
    this.lastErrorMs = errorMs;
    this.counts[decision.tier]++;
    const correction: Correction = { tier: decision.tier, errorMs, rate: baseRate * (1 + decision.nudge) };
    if (decision.tier === "seek") correction.seekToMs = expected;
    this.emit("correction", correction);
    return correction;
  }

  private announce(cause: PlaybackCause): void {
    const t = this.current!;
    const update: PlaybackUpdate = { cause, timeline: t };
    if (t.playing && this.clock.synced) {
      update.start = { localTimeMs: this.clock.toLocal(t.anchorTimeMs) - this.latencyMs, positionMs: t.anchorPositionMs };
    }
    this.emit("update", update);
  }
}
