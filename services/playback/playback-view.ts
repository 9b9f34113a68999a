import type { MessageInitShape } from "@bufbuild/protobuf";
import { PlaybackStatus, type PlaybackStateSchema } from "../../gen/groovebox/playback/v1/playback_pb.js";
import { effectiveAt, position, statusAt, type Timeline } from "./timeline.js";

const STATUS = { idle: PlaybackStatus.IDLE, playing: PlaybackStatus.PLAYING, paused: PlaybackStatus.PAUSED } as const;

/** The PlaybackState message of a room's timeline as seen at server time `nowMs`. */
export function playbackStateAt(roomId: string, stored: Timeline, nowMs: number): MessageInitShape<typeof PlaybackStateSchema> {
  const t = effectiveAt(stored, nowMs);
  return {
    roomId,
    status: STATUS[statusAt(t, nowMs)],
    trackId: t.trackId,
    playing: t.playing,
    anchorPositionMs: t.anchorPositionMs,
    anchorTimeMs: t.anchorTimeMs,
    startAtServerTime: t.startAtServerTime,
    syncBufferMs: t.syncBufferMs,
    trackDurationMs: t.trackDurationMs,
    version: BigInt(t.version),
    currentPosition: position(t, nowMs),
    serverTimestamp: nowMs,
  };
}
