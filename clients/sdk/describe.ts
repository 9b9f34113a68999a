/**
 * Room events and timelines in words, for logs and views (the groovebox CLI, the browser
 * page): positions as m:ss.mmm, instants as local time of day.
 */
import type { CorrectionTier as WireTier } from "../../gen/groovebox/clock/v1/clock_pb.js";
import type { ServerMessage } from "../../gen/groovebox/gateway/v1/gateway_pb.js";
import { PlaybackChange } from "../../gen/groovebox/playback/v1/playback_pb.js";
import { DjChangeReason, LeaveReason, type RoomState } from "../../gen/groovebox/room/v1/room_pb.js";
import type { ClockEstimate } from "./clock/clock-sync.js";
import type { CorrectionTier } from "./playback/correction.js";
import { position, type Timeline } from "./playback/timeline.js";
import { reportedTier } from "./session/sync-reporter.js";

/** A track position as m:ss.mmm (negative before the start instant). */
export function formatPosition(ms: number): string {
  const sign = ms < 0 ? "-" : "";
  const abs = Math.abs(ms);
  const minutes = Math.floor(abs / 60_000);
  const seconds = ((abs % 60_000) / 1000).toFixed(3).padStart(6, "0");
  return `${sign}${minutes}:${seconds}`;
}

/** A server time as local wall-clock time of day, HH:MM:SS.mmm. */
export function timeOfDay(epochMs: number): string {
  const d = new Date(epochMs);
  const two = (n: number) => String(n).padStart(2, "0");
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, "0")}`;
}

/** A number with its sign, to `digits` decimals. */
export const signed = (n: number, digits: number) => `${n >= 0 ? "+" : ""}${n.toFixed(digits)}`;

/** A device's clock estimate in a line: its offset, drift, round trip and error bound. */
export function describeClock(c: ClockEstimate | undefined): string {
  if (c === undefined) return "clock   synchronising...";
  return `clock   offset ${signed(c.offsetMs, 3)} ms  drift ${signed(c.driftPpm, 1)} ppm  rtt ${c.rttMs.toFixed(2)} ms  error ±${c.errorBoundMs.toFixed(2)} ms`;
}

/** What the room is playing, with the expected position now (ticking while playing). */
export function describeTimeline(t: Timeline | undefined, serverNowMs: number | undefined): string {
  if (t === undefined || t.trackId === "") return "nothing playing";
  const duration = t.trackDurationMs === undefined ? "" : ` / ${formatPosition(t.trackDurationMs)}`;
  const at = serverNowMs === undefined ? t.anchorPositionMs : position(t, serverNowMs);
  if (!t.playing) return `paused  ${t.trackId}  ${formatPosition(at)}${duration}`;
  if (serverNowMs !== undefined && serverNowMs < t.anchorTimeMs) {
    return `playing ${t.trackId}  starts in ${Math.ceil(t.anchorTimeMs - serverNowMs)} ms at ${formatPosition(t.anchorPositionMs)}`;
  }
  return `playing ${t.trackId}  ${formatPosition(at)}${duration}`;
}

const TIER_TEXT: Record<CorrectionTier | "idle", string> = { idle: "idle", "in-sync": "in sync", nudge: "nudging", seek: "seeked" };

/** A member's correction tier, from their sync report, in a word ("-" when not reported). */
export function describeTier(tier: WireTier | undefined): string {
  const t = reportedTier(tier);
  return t === undefined ? "-" : TIER_TEXT[t];
}

const nameOf = (room: RoomState | undefined, userId: string) => room?.members.find((m) => m.userId === userId)?.displayName ?? userId;

const CHANGE_TEXT: Record<PlaybackChange, string> = {
  [PlaybackChange.UNSPECIFIED]: "changed",
  [PlaybackChange.PAUSED]: "paused",
  [PlaybackChange.RESUMED]: "resumed",
  [PlaybackChange.SEEKED]: "moved",
  [PlaybackChange.STOPPED]: "stopped",
  [PlaybackChange.ENDED]: "ended",
};

/**
 * One line about a room event, naming members by display name (from the room as it was
 * before the event, so a member who left still has a name).
 */
export function describeEvent(msg: ServerMessage, room: RoomState | undefined): string {
  const m = msg.message;
  switch (m.case) {
    case "memberJoined":
      return `${m.value.member?.displayName ?? "someone"} joined`;
    case "memberLeft":
      return `${nameOf(room, m.value.userId)} left${m.value.reason === LeaveReason.TIMED_OUT ? " (timed out)" : ""}`;
    case "djChanged":
      return `DJ is now ${nameOf(room, m.value.currentDjId)}${m.value.reason === DjChangeReason.SUCCESSION ? " (the DJ left)" : ""}`;
    case "playbackStarted":
      return `started ${m.value.trackId} at ${formatPosition(m.value.positionMs)}, everyone at ${timeOfDay(m.value.startAtServerTime)} (buffer ${Math.round(m.value.syncBufferMs)} ms)`;
    case "playbackChanged": {
      const st = m.value.state;
      const what = `${CHANGE_TEXT[m.value.change]} ${st?.trackId ?? ""}`.trimEnd();
      if (st?.playing) return `${what} at ${formatPosition(st.anchorPositionMs)}, everyone at ${timeOfDay(st.anchorTimeMs)}`;
      return st && st.trackId !== "" ? `${what} at ${formatPosition(st.currentPosition)}` : what;
    }
    case "playbackSync":
      return `sync tick: ${m.value.trackId} at ${formatPosition(m.value.theoreticalPosition)}`;
    case "memberPresenceChanged":
      return `${nameOf(room, m.value.userId)} ${m.value.connected ? "connected (live)" : "disconnected (still a member)"}`;
    case "memberSyncChanged": {
      const r = m.value.sync?.report;
      const tier = describeTier(r?.correctionTier);
      return r
        ? `${nameOf(room, m.value.userId)}: ${tier}, rtt ${r.rttMs.toFixed(1)} ms, ±${r.errorBoundMs.toFixed(2)} ms, latency ${r.outputLatencyMs.toFixed(0)} ms`
        : `${nameOf(room, m.value.userId)}: no sync report`;
    }
    default:
      return m.case ?? "unknown event";
  }
}
