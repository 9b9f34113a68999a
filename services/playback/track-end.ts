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

/** The id of the job that ends a room's track at one timeline version. */
export const trackEndJobId = (roomId: string, version: number) => `${roomId}-v${version}`;

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
      expectedVersion: BigInt(version),
      change: PlaybackChange.ENDED,
      transition: (t, nowMs) => {
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
    async committed(roomId: string, previous: Timeline, next: Timeline, nowMs: number) {
      await queue.remove(trackEndJobId(roomId, previous.version));
      const end = endTime(next);
      if (end === undefined) return;
      await queue.add(
        "end",
        { roomId, version: next.version, endAtMs: end },
        { jobId: trackEndJobId(roomId, next.version), delay: Math.max(0, end - nowMs - EARLY_MS) },
      );
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
