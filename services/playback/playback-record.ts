import { IDLE, type Timeline } from "./timeline.js";

/**
 * The timeline as stored in `room:{roomId}:state.playback` (JSON). Anything unreadable there
 * reads as idle at version 0 rather than failing every room read.
 */
export function encodePlaybackRecord(t: Timeline): string {
  return JSON.stringify(t);
}

export function decodePlaybackRecord(raw: string | null | undefined): Timeline {
  if (!raw) return IDLE;
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    return IDLE;
  }
  const num = (x: unknown) => (typeof x === "number" && Number.isFinite(x) ? x : 0);
  const t: Timeline = {
    trackId: typeof v.trackId === "string" ? v.trackId : "",
    playing: v.playing === true,
    anchorPositionMs: num(v.anchorPositionMs),
    anchorTimeMs: num(v.anchorTimeMs),
    startAtServerTime: num(v.startAtServerTime),
    syncBufferMs: num(v.syncBufferMs),
    version: num(v.version),
  };
  if (typeof v.trackDurationMs === "number" && Number.isFinite(v.trackDurationMs)) t.trackDurationMs = v.trackDurationMs;
  return t;
}
