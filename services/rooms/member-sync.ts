import { create, fromJsonString, toBinary, toJsonString } from "@bufbuild/protobuf";
import { CorrectionTier, type SyncReport } from "../../gen/groovebox/clock/v1/clock_pb.js";
import { MemberSyncSchema, RoomEventSchema, type MemberSync } from "../../gen/groovebox/room/v1/room_pb.js";
import { invalidArgument } from "../common/errors.js";
import { optionalId, requireInRange } from "../common/validate.js";

/**
 * A member's sync quality: their device's latest sync report, checked, compared with the one
 * before (is the change worth telling the room?), and encoded for storage and the event.
 */

const MAX_DURATION_MS = 60_000;

/** A report from a request: INVALID_ARGUMENT naming the field when a number is out of range. */
export function checkReport(report: SyncReport | undefined): SyncReport {
  if (report === undefined) throw invalidArgument("report is required");
  requireInRange(report.offsetMs, "report.offset_ms", -1e12, 1e12);
  requireInRange(report.rttMs, "report.rtt_ms", 0, MAX_DURATION_MS);
  requireInRange(report.outputLatencyMs, "report.output_latency_ms", 0, MAX_DURATION_MS);
  requireInRange(report.driftPpm, "report.drift_ppm", -10_000, 10_000);
  requireInRange(report.playbackErrorMs, "report.playback_error_ms", -1e9, 1e9);
  requireInRange(report.errorBoundMs, "report.error_bound_ms", 0, MAX_DURATION_MS);
  if (!(report.correctionTier in CorrectionTier)) throw invalidArgument("report.correction_tier is not a known tier");
  optionalId(report.deviceId, "report.device_id");
  return report;
}

/** How much a report must differ from the last announced one to be announced. */
export interface MaterialThresholds {
  outputLatencyMs: number;
  /** Error bound and round trip: an absolute step (ms) and a relative one (fraction), whichever is larger. */
  errorBoundMs: number;
  rttMs: number;
  relative: number;
  driftPpm: number;
  playbackErrorMs: number;
}

export const DEFAULT_MATERIAL_THRESHOLDS: MaterialThresholds = {
  outputLatencyMs: 1,
  errorBoundMs: 1,
  rttMs: 5,
  relative: 0.5,
  driftPpm: 10,
  playbackErrorMs: 5,
};

/**
 * True when `next` tells the room something `previous` did not: another correction tier or
 * device, another output latency, or clearly another error bound, round trip, drift or
 * playback error. Offsets are not compared: they move with drift all the time and say
 * nothing about quality.
 */
export function isMaterialChange(previous: SyncReport | undefined, next: SyncReport, t = DEFAULT_MATERIAL_THRESHOLDS): boolean {
  if (previous === undefined) return true;
  const moved = (a: number, b: number, abs: number) => Math.abs(a - b) >= Math.max(abs, t.relative * Math.abs(a));
  return (
    previous.correctionTier !== next.correctionTier ||
    previous.deviceId !== next.deviceId ||
    Math.abs(previous.outputLatencyMs - next.outputLatencyMs) >= t.outputLatencyMs ||
    moved(previous.errorBoundMs, next.errorBoundMs, t.errorBoundMs) ||
    moved(previous.rttMs, next.rttMs, t.rttMs) ||
    Math.abs(previous.driftPpm - next.driftPpm) >= t.driftPpm ||
    Math.abs(previous.playbackErrorMs - next.playbackErrorMs) >= t.playbackErrorMs
  );
}

/** The stored form of a member's sync (JSON: Redis replies are text). */
export const encodeMemberSync = (sync: MemberSync): string => toJsonString(MemberSyncSchema, sync);

export function decodeMemberSync(stored: string): MemberSync | undefined {
  try {
    return fromJsonString(MemberSyncSchema, stored);
  } catch {
    return undefined;
  }
}

/** The member_sync_changed event's RoomEvent bytes (the room script adds the seq). */
export function memberSyncEvent(roomId: string, userId: string, sync: MemberSync, nowMs: number): Buffer {
  const event = create(RoomEventSchema, {
    roomId,
    serverTimestamp: nowMs,
    event: { case: "memberSyncChanged", value: { userId, sync } },
  });
  return Buffer.from(toBinary(RoomEventSchema, event));
}

/**
 * Lua for room scripts (after LUA_ROOM_KEYS): room_max_output_latency() is the largest output
 * latency the room's members last reported (a string, '0' when none did). The playback
 * service reads it in its own room script to size a start's buffer; the index is written by
 * the rooms service with each report and loses a member when they leave.
 */
export const LUA_ROOM_MAX_OUTPUT_LATENCY = `
local function room_max_output_latency()
  return redis.call('ZREVRANGE', K.outputLatency, 0, 0, 'WITHSCORES')[2] or '0'
end
`;

/** A member's sync from a report received at `nowMs`. */
export const memberSyncOf = (report: SyncReport, nowMs: number): MemberSync => create(MemberSyncSchema, { report, reportedAtTimeMs: nowMs });
