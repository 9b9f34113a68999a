import type { MessageInitShape } from "@bufbuild/protobuf";
import type { PlaybackSyncSchema } from "../../gen/groovebox/playback/v1/playback_pb.js";
import { playbackSyncEventBytes } from "./playback-events.js";
import type { PlaybackStore } from "./playback-store.js";
import { position, statusAt, type Timeline } from "./timeline.js";

/** What became of a tick: sent, or why not. */
export type SyncTickOutcome =
  /** Published to the room. */
  | "sent"
  /** This tick (or a later one) was sent already: the job ran twice. */
  | "duplicate"
  /** Nothing plays at the tick's instant (paused, stopped, ended). */
  | "not-playing"
  /** Playing, but the tick comes before the devices' start instant: they are still waiting. */
  | "waiting"
  /** The room does not exist (any more). */
  | "gone"
  /** The timeline kept changing under the tick; the changes' own events tell the devices. */
  | "superseded";

type PlaybackSyncInit = MessageInitShape<typeof PlaybackSyncSchema> & { roomId: string; serverTimestamp: number };

/**
 * The playback_sync of a timeline at server time `tickMs`: the position by the timeline
 * function at that instant (never "now - started"), or why there is none.
 */
export function syncTickAt(roomId: string, t: Timeline, tickMs: number): PlaybackSyncInit | "not-playing" | "waiting" {
  if (statusAt(t, tickMs) !== "playing") return "not-playing";
  if (tickMs < t.startAtServerTime) return "waiting";
  return {
    roomId,
    trackId: t.trackId,
    serverTimestamp: tickMs,
    theoreticalPosition: position(t, tickMs),
    version: BigInt(t.version),
  };
}

/** A timeline that changes between the read and the publish is read again this often at most. */
const MAX_ATTEMPTS = 3;

/**
 * Sends a room's periodic playback_sync for one tick instant: reads the timeline, computes
 * the position at the tick, and publishes it like every room event (sequence number, the
 * room's sharded channel), only if the timeline did not change in between and only once per
 * tick (see PlaybackStore.publishSyncTick), so a tick job may safely run more than once.
 */
export function createSyncTicks(deps: {
  store: PlaybackStore;
  /** How long a room remembers its last tick; longer than a tick may arrive late. */
  tickMarkTtlMs: number;
}) {
  return {
    async send(roomId: string, tickMs: number): Promise<SyncTickOutcome> {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const room = await deps.store.read(roomId, "");
        if (room === undefined) return "gone";
        const sync = syncTickAt(roomId, room.timeline, tickMs);
        if (typeof sync === "string") return sync;
        const status = await deps.store.publishSyncTick(roomId, room.timeline.version, tickMs, deps.tickMarkTtlMs, playbackSyncEventBytes(sync));
        if (status === "OK") return "sent";
        if (status === "DUPLICATE") return "duplicate";
        if (status === "NOT_FOUND") return "gone";
      }
      return "superseded";
    },
  };
}

export type SyncTicks = ReturnType<typeof createSyncTicks>;
