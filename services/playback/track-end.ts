import { Queue, Worker, type ConnectionOptions } from "bullmq";
import { playbackEndQueuePrefix } from "../common/keys.js";
import type { ClockSource } from "../common/clock-source.js";
import type { Logger } from "../common/logger.js";
import type { CommandRunner, PlaybackHooks } from "./command-runner.js";
import { PlaybackChange } from "./playback-events.js";
import { endTime, IDLE, type Timeline } from "./timeline.js";

const QUEUE = "playback-end";

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

const jobId = (roomId: string, version: number) => `${roomId}-v${version}`;

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
  const queue = new Queue<EndJob>(QUEUE, {
    connection: deps.connection,
    prefix: playbackEndQueuePrefix,
    defaultJobOptions: { removeOnComplete: true, removeOnFail: 100, attempts: 5, backoff: { type: "exponential", delay: 200 } },
  });
  let worker: Worker<EndJob> | undefined;
  // Redis outages are reported by the service's own connection; here they are only noise.
  queue.on("error", (err) => deps.logger.debug({ err }, "track end queue error"));

  async function endTrack({ roomId, version }: EndJob): Promise<void> {
    await deps.run()({
      roomId,
      djId: "",
      expectedVersion: version,
      change: PlaybackChange.ENDED,
      transition: () => ({ ...IDLE }),
    }).catch((err: unknown) => {
      // The timeline moved on (or the room is gone): nothing to end.
      deps.logger.debug({ err, roomId, version }, "track end skipped");
    });
  }

  const hooks: PlaybackHooks = {
    async committed(roomId: string, previous: Timeline, next: Timeline, nowMs: number) {
      await queue.remove(jobId(roomId, previous.version));
      const end = endTime(next);
      if (end === undefined) return;
      await queue.add(
        "end",
        { roomId, version: next.version, endAtMs: end },
        { jobId: jobId(roomId, next.version), delay: Math.max(0, end - nowMs - EARLY_MS) },
      );
    },
  };

  return {
    hooks,
    /** Starts processing track ends in this process. */
    start(): void {
      worker = new Worker<EndJob>(
        QUEUE,
        async (job) => {
          const wait = job.data.endAtMs - deps.clock.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          await endTrack(job.data);
        },
        { connection: deps.connection, prefix: playbackEndQueuePrefix, concurrency: 50 },
      );
      worker.on("error", (err) => deps.logger.debug({ err }, "track end worker error"));
    },
    async stop(): Promise<void> {
      await worker?.close();
      await queue.close();
    },
  };
}
