import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { PlaybackService } from "../../gen/groovebox/playback/v1/playback_pb.js";
import { principalKey, requireUser } from "../common/auth/gate.js";
import type { ClockSource } from "../common/clock-source.js";
import { invalidArgument, notFound, permissionDenied } from "../common/errors.js";
import { MAX_TRACK_MS, requireId, requireInRange, requireText } from "../common/validate.js";
import type { CommandRunner } from "./command-runner.js";
import { PlaybackChange } from "./playback-events.js";
import type { PlaybackStore } from "./playback-store.js";
import { playbackStateAt } from "./playback-view.js";
import { pause, resume, seek, start, stop, syncBufferMs, type BufferOptions, type RoomDelays, type Timeline } from "./timeline.js";

export const TRACK_ID_MAX = 256;

export interface PlaybackServiceDeps {
  store: PlaybackStore;
  run: CommandRunner;
  clock: ClockSource;
  buffer: BufferOptions;
}

/** A position from a request: finite, in [0, 24 h], and inside a known duration. */
function requirePosition(value: number, field: string, durationMs: number | undefined): number {
  requireInRange(value, field, 0, MAX_TRACK_MS);
  if (durationMs !== undefined && value >= durationMs) throw invalidArgument(`${field} must be below the track's duration`);
  return value;
}

/** PlaybackService: the DJ's commands on the room's timeline, and reads for members. */
export function createPlaybackService(deps: PlaybackServiceDeps): ServiceImpl<typeof PlaybackService> {
  const { run, clock } = deps;

  /** The start buffer for a room: clamp(2 x max fresh round trip, 100, 500) + max output latency by default. */
  const bufferFor = (delays: RoomDelays) => syncBufferMs(delays, deps.buffer);

  const state = (roomId: string, t: Timeline, nowMs: number) => playbackStateAt(roomId, t, nowMs);

  /** Pause, resume, seek, stop: the DJ's change of the room's timeline, answered with the new state. */
  async function change(
    req: { roomId: string; expectedVersion?: bigint },
    ctx: HandlerContext,
    kind: PlaybackChange,
    transition: (t: Timeline, nowMs: number, delays: RoomDelays) => Timeline,
  ) {
    const roomId = requireId(req.roomId, "room_id");
    const dj = requireUser(ctx);
    const { next, nowMs } = await run({
      roomId,
      djId: dj.userId,
      expectedVersion: req.expectedVersion,
      change: kind,
      transition,
    });
    return { state: state(roomId, next, nowMs) };
  }

  return {
    async start(req, ctx) {
      const dj = requireUser(ctx);
      const roomId = requireId(req.roomId, "room_id");
      const trackId = requireText(req.trackId, "track_id", 1, TRACK_ID_MAX);
      const durationMs = req.trackDurationMs === undefined ? undefined : requireInRange(req.trackDurationMs, "track_duration_ms", 0, MAX_TRACK_MS);
      if (durationMs === 0) throw invalidArgument("track_duration_ms must be positive");
      const positionMs = requirePosition(req.positionMs ?? 0, "position_ms", durationMs);
      const { next, nowMs } = await run({
        roomId,
        djId: dj.userId,
        expectedVersion: req.expectedVersion,
        change: "started",
        transition: (t, now, delays) => start(t, { trackId, positionMs, trackDurationMs: durationMs, bufferMs: bufferFor(delays), nowMs: now }),
      });
      return {
        trackId,
        positionMs,
        startAtServerTime: next.startAtServerTime,
        syncBufferMs: next.syncBufferMs,
        serverTimestamp: nowMs,
        version: BigInt(next.version),
        state: state(roomId, next, nowMs),
      };
    },

    pause: (req, ctx) => change(req, ctx, PlaybackChange.PAUSED, pause),

    resume: (req, ctx) => change(req, ctx, PlaybackChange.RESUMED, (t, now, delays) => resume(t, now, bufferFor(delays))),

    seek(req, ctx) {
      requirePosition(req.positionMs, "position_ms", undefined);
      return change(req, ctx, PlaybackChange.SEEKED, (t, now, delays) =>
        seek(t, now, requirePosition(req.positionMs, "position_ms", t.trackDurationMs), bufferFor(delays)),
      );
    },

    stop: (req, ctx) => change(req, ctx, PlaybackChange.STOPPED, stop),

    async getPlayback(req, ctx) {
      const roomId = requireId(req.roomId, "room_id");
      const principal = ctx.values.get(principalKey);
      const room = await deps.store.read(roomId, principal?.kind === "user" ? principal.userId : "");
      if (room === undefined) throw notFound("room not found");
      if (principal?.kind === "user" && !room.isMember) throw permissionDenied("not a member of the room");
      return { state: state(roomId, room.timeline, clock.now()) };
    },
  };
}
