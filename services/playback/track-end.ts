import { Queue, Worker, type ConnectionOptions } from "bullmq";
import { playbackEndQueuePrefix } from "../common/keys.js";
import type { ClockSource } from "../common/clock-source.js";
import { DomainError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import type { CommandRunner, PlaybackHooks } from "./command-runner.js";
import { PlaybackChange } from "./playback-events.js";
import { endTime, IDLE, TimelineStateError, type Timeline } from "./timeline.js";

/** The track-end timer's BullMQ queue (under playbackEndQueuePrefix). */
export const TRACK_END_QUEUE = "playback-end";

interface EndJob {
  roomId: string;
  version: number;
  /** When the track ends, by the server clock. */
  endAtMs: number;
}

/**
 * Jobs are due this much before the track's end, and the worker waits for the exact instant:
 * BullMQ picks delayed jobs up late by tens of milliseconds, by design.
 */
const EARLY_MS = 250;

/**
 * A version's end job, named after the end time too: a change that loses its compare-and-set
 * after its hook added a job may leave one with the same version and another end.
 */
const jobId = (roomId: string, version: number, endAtMs: number) => `${trackEndJobPrefix(roomId, version)}${Math.round(endAtMs)}`;

/** How the ids of a room's end jobs for one timeline version begin. */
export const trackEndJobPrefix = (roomId: string, version: number) => `${roomId}-v${version}-`;

/**
 * When a playing track has a known duration, a delayed BullMQ job fires at its end: the room
 * becomes idle and members get playback_changed ENDED. Each job names the timeline version it
 * was made for and does nothing if the timeline moved on (pause, seek, a new track); every
 * change removes the job of the version before. Jobs live in Redis, so a restart loses none,
 * and any number of playback processes may run the worker.
 */
export function createTrackEndTimer(deps: {
  connection: ConnectionOptions;
  clock: ClockSource;
  logger: Logger;
  run: () => CommandRunner;
}) {
  const queue = new Queue<EndJob>(TRACK_END_QUEUE, {
    connection: deps.connection,
    prefix: playbackEndQueuePrefix,
    defaultJobOptions: { removeOnComplete: true, removeOnFail: 100, attempts: 5, backoff: { type: "exponential", delay: 200 } },
  });
  let worker: Worker<EndJob> | undefined;
  // Redis outages are reported by the service's own connection; here they are only noise.
  queue.on("error", (err) => deps.logger.debug({ err }, "track end queue error"));

  async function endTrack({ roomId, version, endAtMs }: EndJob): Promise<void> {
    await deps.run()({
      roomId,
      djId: "",
      change: PlaybackChange.ENDED,
      transition: (t, nowMs) => {
        // The job is stored just before its change (see hooks.beforeCommit): a job due at once
        // may come before the change is. Failing, it is tried again shortly.
        if (t.version < version) throw new Error(`timeline version ${version} is not stored yet`);
        if (t.version > version) throw new TimelineStateError("the timeline moved on");
        // The runner sees a track past its end as idle already; anything else did not end.
        if (t.trackId !== "" || nowMs < endAtMs) throw new TimelineStateError("the track has not ended");
        return { ...IDLE };
      },
    }).catch((err: unknown) => {
      // The timeline moved on, or the room is gone: nothing to end. Anything else (Redis
      // unavailable) fails the job, and BullMQ tries again.
      if (!(err instanceof DomainError)) throw err;
      deps.logger.debug({ err, roomId, version }, "track end skipped");
    });
  }

  const hooks: PlaybackHooks = {
    /**
     * The end job is stored before the change that makes it due, so a change that was
     * acknowledged has its job even when Redis fails right after the answer (a job added after
     * it would be lost then, and the track would never end). A change that then loses its
     * compare-and-set leaves a job for a version that never was: it ends nothing.
     */
    async beforeCommit(roomId: string, next: Timeline, nowMs: number) {
      const end = endTime(next);
      if (end === undefined) return;
      await queue.add(
        "end",
        { roomId, version: next.version, endAtMs: end },
        { jobId: jobId(roomId, next.version, end), delay: Math.max(0, end - nowMs - EARLY_MS) },
      );
    },
    /** The job of the version before goes (one left behind finds its version gone and ends nothing). */
    async committed(roomId: string, previous: Timeline) {
      const end = endTime(previous);
      if (end !== undefined) await queue.remove(jobId(roomId, previous.version, end));
    },
  };

  return {
    hooks,
    /** Starts processing track ends in this process. */
    start(): void {
      worker = new Worker<EndJob>(
        TRACK_END_QUEUE,
        async (job) => {
          const wait = job.data.endAtMs - deps.clock.now();
          if (wait > EARLY_MS * 4) {
            // Far too early by this process's clock: come back nearer the end.
            await queue.add("end", job.data, { jobId: `${job.id}-later`, delay: wait - EARLY_MS });
            return;
          }
          // Timers may fire a fraction of a millisecond early: wait until the end has passed.
          while (deps.clock.now() < job.data.endAtMs) {
            await new Promise((r) => setTimeout(r, Math.ceil(job.data.endAtMs - deps.clock.now())));
          }
          await endTrack(job.data);
        },
        { connection: deps.connection, prefix: playbackEndQueuePrefix, concurrency: 50 },
      );
      worker.on("error", (err) => deps.logger.debug({ err }, "track end worker error"));
    },
    /**
     * Stops taking jobs without waiting for one in progress: end jobs are idempotent, and one
     * cut short here is picked up again as a stalled job. (A graceful close can wait forever on
     * a worker whose blocking connection is reconnecting.)
     */
    async stop(): Promise<void> {
      await worker?.close(true);
      await queue.close();
    },
  };
}
