import { PlaybackStatus, type PlaybackState } from "../../../gen/groovebox/playback/v1/playback_pb.js";
import { position, type Timeline } from "../../../services/playback/timeline.js";

/**
 * The room's timeline as the SDK holds it, in server time: the same function every
 * groovebox service uses (services/playback/timeline.ts).
 */
export type { Timeline };

/** The timeline of a PlaybackState message. */
export function timelineOf(state: PlaybackState): Timeline {
  const playing = state.status === PlaybackStatus.PLAYING;
  return {
    trackId: state.trackId,
    playing,
    anchorPositionMs: state.anchorPositionMs,
    anchorTimeMs: state.anchorTimeMs,
    startAtServerTime: state.startAtServerTime,
    syncBufferMs: state.syncBufferMs,
    version: Number(state.version),
    ...(state.trackDurationMs === undefined ? {} : { trackDurationMs: state.trackDurationMs }),
  };
}

/** The track position at server time `serverMs` (below the start position before the start: wait). */
export { position };
