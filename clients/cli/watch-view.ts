import type { Member, RoomState } from "../../gen/groovebox/room/v1/room_pb.js";
import { describeClock, describeTier, describeTimeline, signed, timeOfDay, type ClockEstimate, type ConnectionStatus, type Timeline } from "../sdk/index.js";

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

/**
 * A member's row: name, DJ, presence ("live" while a stream of theirs is attached, "calls" for
 * a member here by unary calls or in the grace period after their stream dropped), and their
 * device's latest sync report.
 */
function memberRow(m: Member, self: boolean): string {
  const head = `${self ? "*" : " "} ${m.displayName.slice(0, 16).padEnd(16)} ${(m.isDj ? "DJ" : "").padEnd(2)} ${(m.connected ? "live" : "calls").padEnd(5)}`;
  const r = m.sync?.report;
  if (r === undefined) return `${head}  no report yet`;
  const tier = describeTier(r.correctionTier);
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
  const fixed = lines.map((l) => (l.length > width ? l.slice(0, width) : l));
  return [...fixed, ...latestEvents(s.events, width, Math.max(1, height - fixed.length))];
}

/** Event lines start with the time of day and two spaces ("21:13:22.377  "). */
const EVENT_INDENT = 14;

/** As many of the latest events as fit in `rows` rows, oldest first, each wrapped to `width`. */
function latestEvents(events: string[], width: number, rows: number): string[] {
  const out: string[] = [];
  for (let i = events.length - 1; i >= 0; i--) {
    const wrapped = wrapEvent(events[i]!, width);
    if (out.length + wrapped.length > rows) {
      // The newest event is shown even when it alone does not fit: its first rows.
      if (out.length === 0) out.push(...wrapped.slice(0, rows));
      break;
    }
    out.unshift(...wrapped);
  }
  return out;
}

/** An event line in rows of at most `width`, broken at spaces, continued under its text. */
export function wrapEvent(line: string, width: number): string[] {
  const indent = width > EVENT_INDENT + 20 ? " ".repeat(EVENT_INDENT) : "";
  const rows: string[] = [];
  let rest = line;
  let prefix = "";
  while (prefix.length + rest.length > width) {
    const room = width - prefix.length;
    const cut = rest.lastIndexOf(" ", room);
    const at = cut > 0 ? cut : room;
    rows.push(prefix + rest.slice(0, at).trimEnd());
    rest = rest.slice(at).trimStart();
    prefix = indent;
  }
  rows.push(prefix + rest);
  return rows;
}
