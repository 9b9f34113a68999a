/**
 * The playback timeline of a room, as pure functions: every path that needs a position
 * (commands, room state, joins mid-song, the periodic sync, tests) uses `position`.
 *
 *     position(T) = playing ? anchor_position + (T - anchor_time) : anchor_position
 *
 * capped at the track's duration when it is known. While playing, the anchor is the
 * (position, server time) pair at which devices (re)start together: start_at_server_time.
 * Before that instant the position is below the anchor position: devices wait.
 */

export interface Timeline {
  /** The track loaded; "" when idle. */
  trackId: string;
  playing: boolean;
  anchorPositionMs: number;
  anchorTimeMs: number;
  startAtServerTime: number;
  syncBufferMs: number;
  /** Grows by one with every change; 0 before the first. */
  version: number;
  trackDurationMs?: number;
}

/** A room that never played. */
export const IDLE: Timeline = Object.freeze({
  trackId: "",
  playing: false,
  anchorPositionMs: 0,
  anchorTimeMs: 0,
  startAtServerTime: 0,
  syncBufferMs: 0,
  version: 0,
});

/** A transition that the current state does not allow (e.g. pause while idle). */
export class TimelineStateError extends Error {
  override name = "TimelineStateError";
}

/** The track position at server time `nowMs`. */
export function position(t: Timeline, nowMs: number): number {
  if (!t.playing) return t.anchorPositionMs;
  const p = t.anchorPositionMs + (nowMs - t.anchorTimeMs);
  return t.trackDurationMs === undefined ? p : Math.min(p, t.trackDurationMs);
}

/** When a playing track with a known duration reaches its end (server time), else undefined. */
export function endTime(t: Timeline): number | undefined {
  if (!t.playing || t.trackDurationMs === undefined) return undefined;
  return t.anchorTimeMs + (t.trackDurationMs - t.anchorPositionMs);
}

/** True when the track has played to its known end at `nowMs`. */
export function hasEnded(t: Timeline, nowMs: number): boolean {
  const end = endTime(t);
  return end !== undefined && nowMs >= end;
}

/** idle, playing or paused, as seen at `nowMs` (a track past its end is idle). */
export function statusAt(t: Timeline, nowMs: number): "idle" | "playing" | "paused" {
  if (t.trackId === "" || hasEnded(t, nowMs)) return "idle";
  return t.playing ? "playing" : "paused";
}

/**
 * The state as it stands at `nowMs`: a track that reached its end is shown idle, even before
 * the end has been recorded (the version stays the stored one until then).
 */
export function effectiveAt(t: Timeline, nowMs: number): Timeline {
  return hasEnded(t, nowMs) ? { ...IDLE, version: t.version } : t;
}

/** Plays `trackId` from `positionMs`, starting together at now + buffer. */
export function start(
  t: Timeline,
  cmd: { trackId: string; positionMs: number; trackDurationMs?: number; bufferMs: number; nowMs: number },
): Timeline {
  const startAt = cmd.nowMs + cmd.bufferMs;
  const next: Timeline = {
    trackId: cmd.trackId,
    playing: true,
    anchorPositionMs: cmd.positionMs,
    anchorTimeMs: startAt,
    startAtServerTime: startAt,
    syncBufferMs: cmd.bufferMs,
    version: t.version + 1,
  };
  if (cmd.trackDurationMs !== undefined) next.trackDurationMs = cmd.trackDurationMs;
  return next;
}

/** Stops the timeline where it is (never before the start position while waiting to start). */
export function pause(t: Timeline, nowMs: number): Timeline {
  if (statusAt(t, nowMs) !== "playing") throw new TimelineStateError("nothing is playing");
  return { ...t, playing: false, anchorPositionMs: Math.max(position(t, nowMs), t.anchorPositionMs), anchorTimeMs: nowMs, version: t.version + 1 };
}

/** Plays on from the paused position, starting together at now + buffer. */
export function resume(t: Timeline, nowMs: number, bufferMs: number): Timeline {
  if (statusAt(t, nowMs) !== "paused") throw new TimelineStateError("nothing is paused");
  const startAt = nowMs + bufferMs;
  return { ...t, playing: true, anchorTimeMs: startAt, startAtServerTime: startAt, syncBufferMs: bufferMs, version: t.version + 1 };
}

/** Moves to `positionMs`; when playing, devices jump there together at now + buffer. */
export function seek(t: Timeline, nowMs: number, positionMs: number, bufferMs: number): Timeline {
  const status = statusAt(t, nowMs);
  if (status === "idle") throw new TimelineStateError("no track is loaded");
  if (status === "paused") return { ...t, anchorPositionMs: positionMs, anchorTimeMs: nowMs, version: t.version + 1 };
  const startAt = nowMs + bufferMs;
  return {
    ...t,
    anchorPositionMs: positionMs,
    anchorTimeMs: startAt,
    startAtServerTime: startAt,
    syncBufferMs: bufferMs,
    version: t.version + 1,
  };
}

/** Ends playback: idle, position 0. */
export function stop(t: Timeline, nowMs: number): Timeline {
  if (statusAt(t, nowMs) === "idle") throw new TimelineStateError("nothing is playing or paused");
  return { ...IDLE, version: t.version + 1 };
}

/** What a room's start buffer is sized from. */
export interface RoomDelays {
  /** The largest fresh round trip of the room's streams (ms); undefined when none is fresh. */
  maxRttMs: number | undefined;
  /** The largest output latency the room's members reported (ms); 0 when none did. */
  maxOutputLatencyMs: number;
}

/** How the start buffer is sized (services/playback/config.ts has the settings). */
export interface BufferOptions {
  rttMultiplier: number;
  minBufferMs: number;
  maxBufferMs: number;
  defaultRttMs: number;
  /** The most output latency the buffer makes room for (a report beyond it counts as this much). */
  maxOutputLatencyMs: number;
}

/**
 * The start buffer for a room: the network's part, clamp(multiplier x max round trip, min,
 * max) (the default RTT when none is fresh), plus the largest output latency of its members
 * (capped). A device feeds its first sample its output latency before the start instant (the
 * SDK's start.localTimeMs), so without that part a Bluetooth device (150-250 ms) would learn of
 * a 100 ms start after the moment it had to begin, and could only join in late.
 */
export function syncBufferMs(room: RoomDelays, opts: BufferOptions): number {
  const rtt = room.maxRttMs === undefined || room.maxRttMs <= 0 ? opts.defaultRttMs : room.maxRttMs;
  const network = Math.min(opts.maxBufferMs, Math.max(opts.minBufferMs, opts.rttMultiplier * rtt));
  return network + Math.min(Math.max(room.maxOutputLatencyMs, 0), opts.maxOutputLatencyMs);
}
