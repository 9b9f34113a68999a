import { Queue, type ConnectionOptions } from "bullmq";
import type { ClockSource } from "../common/clock-source.js";
import { ConfigError } from "../common/config.js";
import { syncQueueKeys } from "../common/keys.js";
import type { Logger } from "../common/logger.js";
import type { RedisClient } from "../common/redis.js";
import type { PlaybackHooks } from "./command-runner.js";
import type { SyncOptions } from "./config.js";
import type { PlaybackStore } from "./playback-store.js";
import { statusAt, type Timeline } from "./timeline.js";

/** The queue of the periodic playback_sync; its jobs come from one job scheduler per playing room. */
export const SYNC_QUEUE = "playback-sync";

/** A tick job: which room. Its due time is in the job's id (see tickDueTime). */
export interface SyncJob {
  roomId: string;
}

/**
 * Every tick job: removed once done, so nothing piles up in Redis (the last failures are kept
 * for a look); never retried, since the next tick is on its way anyway.
 */
const TICK_JOB_OPTIONS = { removeOnComplete: true, removeOnFail: { count: 100 }, attempts: 1 };

/** BullMQ names a scheduler's jobs `repeat:<scheduler id>:<due time, ms>`. */
const SCHEDULER_JOB_ID = /^repeat:(.+):(\d+)$/;

/** The server time a scheduler's job is due at, from its id; undefined for any other job. */
export function tickDueTime(jobId: string | undefined): number | undefined {
  const m = SCHEDULER_JOB_ID.exec(jobId ?? "");
  return m ? Number(m[2]) : undefined;
}

const isPlaying = (t: Timeline, nowMs: number) => statusAt(t, nowMs) === "playing";

/** What reconciling one room did. */
export type RoomReconcile = "ok" | "scheduled" | "indexed" | "unscheduled";

/**
 * A room's job scheduler: none, live, or dead: its next job is long overdue and is missing or
 * stuck in a worker that is gone (BullMQ makes the next job when a worker takes the current
 * one; a failure there leaves the scheduler without jobs).
 */
export type SchedulerState = "none" | "live" | "dead";

/** A scheduler whose next job is this many intervals overdue is looked at more closely. */
const OVERDUE_INTERVALS = 3;

/**
 * The 10 s sync's schedule: a BullMQ job scheduler per playing room (id = room id) on the
 * `playback-sync` queue, and the index of playing rooms (`syncQueueKeys`) that lets the
 * scheduler process find every room that should have one without scanning keys.
 *
 * The index is a superset of the playing rooms: a room enters it before a change that makes
 * it play is stored (PlaybackHooks.beforeCommit) and leaves it after its scheduler is removed.
 * Commands, ticks and reconciles may race on one room; whoever removes a scheduler reads the
 * timeline again afterwards and schedules it back if it plays (unscheduleUnlessPlaying), and a
 * scheduler left on a room that stopped finds out at its next tick. So the last writer is
 * always right, or corrected one tick later.
 */
export function createSyncSchedule(deps: {
  /** For the index: the service's connection (commands fail fast while Redis is away). */
  redis: RedisClient;
  /** For BullMQ. */
  connection: ConnectionOptions;
  store: PlaybackStore;
  clock: ClockSource;
  options: SyncOptions;
  logger: Logger;
}) {
  const { syncIntervalMs: intervalMs, syncLeadMs: leadMs } = deps.options;
  if (leadMs >= intervalMs) throw new ConfigError("SYNC_LEAD_MS must be below SYNC_INTERVAL_MS");
  const keys = syncQueueKeys(deps.options.syncQueueTag);
  const queue = new Queue<SyncJob>(SYNC_QUEUE, {
    connection: deps.connection,
    prefix: keys.prefix,
    // Nobody follows this queue's event stream: keep it short.
    streams: { events: { maxLen: 1000 } },
  });
  queue.on("error", (err) => deps.logger.debug({ err }, "sync queue error"));

  /**
   * Schedules the room's ticks: the first one interval after its devices start (or after now),
   * then every interval. A scheduler that exists keeps its phase. Jobs are due `leadMs` before
   * their tick instant (see the scheduler's tick worker).
   */
  async function schedule(roomId: string, t: Timeline, nowMs: number): Promise<void> {
    await deps.redis.sadd(keys.playingRooms, roomId);
    const firstTickMs = Math.max(t.startAtServerTime, nowMs) + intervalMs;
    await queue.upsertJobScheduler(
      roomId,
      { every: intervalMs, startDate: firstTickMs - leadMs },
      { name: "tick", data: { roomId }, opts: TICK_JOB_OPTIONS },
    );
  }

  /**
   * Removes the room's scheduler and index entry, then reads the timeline again: if a command
   * made the room play in the meantime, schedules it back. Resolves true when it stays removed.
   */
  async function unscheduleUnlessPlaying(roomId: string): Promise<boolean> {
    await queue.removeJobScheduler(roomId);
    await deps.redis.srem(keys.playingRooms, roomId);
    const room = await deps.store.read(roomId, "");
    const nowMs = deps.clock.now();
    if (room === undefined || !isPlaying(room.timeline, nowMs)) return true;
    await schedule(roomId, room.timeline, nowMs);
    return false;
  }

  /** Turns a room's ticks on when a change makes it play, off when it stops. */
  const hooks: PlaybackHooks = {
    async beforeCommit(roomId, next, nowMs) {
      if (isPlaying(next, nowMs)) await deps.redis.sadd(keys.playingRooms, roomId);
    },
    async committed(roomId, _previous, next, nowMs) {
      if (isPlaying(next, nowMs)) await schedule(roomId, next, nowMs);
      else await unscheduleUnlessPlaying(roomId);
    },
  };

  return {
    queue,
    keys,
    hooks,
    unscheduleUnlessPlaying,

    /**
     * Makes one room's schedule match its timeline: a playing room gets a scheduler (and an
     * index entry) if it lacks a live one (upserting a dead one makes its next job); any other
     * room loses both. `known` says what the caller saw of the room in the index and among the
     * schedulers.
     */
    async reconcileRoom(roomId: string, known: { indexed: boolean; scheduler: SchedulerState }): Promise<RoomReconcile> {
      const room = await deps.store.read(roomId, "");
      const nowMs = deps.clock.now();
      if (room !== undefined && isPlaying(room.timeline, nowMs)) {
        if (known.scheduler !== "live") {
          await schedule(roomId, room.timeline, nowMs);
          return "scheduled";
        }
        if (known.indexed) return "ok";
        await deps.redis.sadd(keys.playingRooms, roomId);
        return "indexed";
      }
      if (!known.indexed && known.scheduler === "none") return "ok";
      return (await unscheduleUnlessPlaying(roomId)) ? "unscheduled" : "ok";
    },

    /** The ids in the index of playing rooms, a batch at a time (SSCAN: never one long command). */
    async *indexedRooms(batch = 500): AsyncGenerator<string[]> {
      let cursor = "0";
      do {
        const [next, ids] = await deps.redis.sscan(keys.playingRooms, cursor, "COUNT", batch);
        cursor = next;
        if (ids.length > 0) yield ids;
      } while (cursor !== "0");
    },

    /** The rooms that have a job scheduler, live or dead (see SchedulerState). */
    async scheduledRooms(): Promise<Map<string, Exclude<SchedulerState, "none">>> {
      const overdueBefore = deps.clock.now() - OVERDUE_INTERVALS * intervalMs;
      const schedulers = await queue.getJobSchedulers(0, -1);
      const states = await Promise.all(
        schedulers.map(async ({ key, next }) => {
          if (next === undefined || next >= overdueBefore) return [key, "live"] as const;
          // Overdue: fine while its job waits for a worker, dead if the job is gone or stuck.
          const job = await queue.getJobState(`repeat:${key}:${next}`);
          return [key, job === "unknown" || job === "active" ? "dead" : "live"] as const;
        }),
      );
      return new Map(states);
    },

    /** How many rooms have a job scheduler. */
    scheduledCount: (): Promise<number> => queue.getJobSchedulersCount(),

    close: (): Promise<void> => queue.close(),
  };
}

export type SyncSchedule = ReturnType<typeof createSyncSchedule>;
