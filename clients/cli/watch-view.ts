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
  const eventRows = Math.max(1, height - lines.length);
  lines.push(...s.events.slice(-eventRows));
  return lines.map((l) => (l.length > width ? l.slice(0, width) : l));
}
