import { LeaveReason, DjChangeReason, type Member, type RoomState } from "../../gen/groovebox/room/v1/room_pb.js";
import { PlaybackChange } from "../../gen/groovebox/playback/v1/playback_pb.js";
import type { ServerMessage } from "../../gen/groovebox/gateway/v1/gateway_pb.js";
import { position, reportedTier, type ClockEstimate, type ConnectionStatus, type Timeline } from "../sdk/node.js";
import { formatPosition } from "./format.js";

/** The width the live view is laid out for: it fits a classic terminal. */
export const VIEW_WIDTH = 80;

/** Everything the live view shows, at one instant. */
export interface WatchSnapshot {
  room: RoomState | undefined;
  /** This device's user id (its row is marked). */
  userId: string;
  connection: ConnectionStatus;
  /** The clock's estimate; undefined until synchronised. */
  clock: ClockEstimate | undefined;
  /** Server time now (epoch ms); undefined until the clock is synchronised. */
  serverNowMs: number | undefined;
  timeline: Timeline | undefined;
  /** Event lines, oldest first. */
  events: string[];
}

/** A server time as local wall-clock time of day, HH:MM:SS.mmm. */
export function timeOfDay(epochMs: number): string {
  const d = new Date(epochMs);
  const two = (n: number) => String(n).padStart(2, "0");
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, "0")}`;
}

const signed = (n: number, digits: number) => `${n >= 0 ? "+" : ""}${n.toFixed(digits)}`;

/** The clock line: this device's offset, drift, round trip and error bound. */
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

const TIER_TEXT: Record<string, string> = { idle: "idle", "in-sync": "in sync", nudge: "nudging", seek: "seeked" };

/**
 * A member's row: name, DJ, presence ("live" while a stream of theirs is attached, "calls" for
 * a member here by unary calls or in the grace period after their stream dropped), and their
 * device's latest sync report.
 */
function memberRow(m: Member, self: boolean): string {
  const head = `${self ? "*" : " "} ${m.displayName.slice(0, 16).padEnd(16)} ${(m.isDj ? "DJ" : "").padEnd(2)} ${(m.connected ? "live" : "calls").padEnd(5)}`;
  const r = m.sync?.report;
  if (r === undefined) return `${head}  no report yet`;
  const tier = TIER_TEXT[reportedTier(r.correctionTier) ?? ""] ?? "-";
  return `${head}  ${tier.padEnd(7)} ${signed(r.offsetMs, 2).padStart(11)} ${r.rttMs.toFixed(1).padStart(6)} ${r.errorBoundMs.toFixed(2).padStart(6)} ${r.outputLatencyMs.toFixed(0).padStart(5)} ${signed(r.playbackErrorMs, 1).padStart(7)}`;
}

/** The width of a member row's name, DJ and presence columns. */
const MEMBER_HEAD_WIDTH = 27;

/** The header of the member rows' sync columns (aligned with memberRow). */
const SYNC_HEADER = `  ${"sync".padEnd(7)} ${"offset ms".padStart(11)} ${"rtt".padStart(6)} ${"±err".padStart(6)} ${"lat".padStart(5)} ${"error".padStart(7)}`;

/**
 * The live view as lines of at most `width` characters, filling `height` lines: the room,
 * this device's clock, the timeline, the members with their sync quality, and as many of the
 * latest events as fit.
 */
export function renderWatch(s: WatchSnapshot, width = VIEW_WIDTH, height = 24): string[] {
  const room = s.room;
  const title = room ? `room ${room.roomCode}${room.name ? ` ${room.name}` : ""}` : "no room";
  const when = s.serverNowMs === undefined ? "" : `server ${timeOfDay(s.serverNowMs)}`;
  const left = `groovebox watch  ${title}  ${s.connection}`;
  const lines = [
    `${left}${when.padStart(Math.max(1, width - left.length))}`,
    describeClock(s.clock),
    describeTimeline(s.timeline, s.serverNowMs),
    "",
    `members ${room?.members.length ?? 0}`.padEnd(MEMBER_HEAD_WIDTH) + SYNC_HEADER,
    ...(room?.members ?? []).map((m) => memberRow(m, m.userId === s.userId)),
    "",
    "events",
  ];
  const eventRows = Math.max(1, height - lines.length);
  lines.push(...s.events.slice(-eventRows));
  return lines.map((l) => (l.length > width ? l.slice(0, width) : l));
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
    case "memberSyncChanged": {
      const r = m.value.sync?.report;
      const tier = TIER_TEXT[reportedTier(r?.correctionTier) ?? ""] ?? "-";
      return r
        ? `${nameOf(room, m.value.userId)}: ${tier}, rtt ${r.rttMs.toFixed(1)} ms, ±${r.errorBoundMs.toFixed(2)} ms, latency ${r.outputLatencyMs.toFixed(0)} ms`
        : `${nameOf(room, m.value.userId)}: no sync report`;
    }
    default:
      return m.case ?? "unknown event";
  }
}
