import { Worker, type ConnectionOptions } from "bullmq";
import type { Logger } from "../common/logger.js";
import { SYNC_QUEUE, tickDueTime, type SyncJob } from "../playback/sync-schedule.js";
import type { TickHandler } from "./tick-handler.js";

/**
 * The BullMQ worker of the `playback-sync` queue. Jobs are due `leadMs` before their tick's
 * instant (BullMQ hands due jobs over tens of milliseconds late), so the handler gets each one
 * early and sends it on the instant.
 *
 * Jobs are at-least-once: a job whose worker died (kill -9) or stalled goes back to the queue
 * once its lock expires, and its tick is still sent once at most (see SyncTicks; by then the
 * room's next tick has usually gone out, and the old one is dropped). BullMQ makes a
 * scheduler's next job when the current one is taken, so a dead worker's rooms tick on from
 * the other workers at once, except a room whose job it took but had not yet followed up: that
 * one waits for the stalled-job check. Locks and checks of a quarter interval (0.2-30 s) bring
 * it back within lock + 2 checks, under an interval, so it loses one tick.
 */
export function createTickWorker(deps: {
  connection: ConnectionOptions;
  /** The queue's BullMQ prefix (SyncSchedule.keys.prefix). */
  prefix: string;
  tick: TickHandler;
  logger: Logger;
  options: { syncIntervalMs: number; syncLeadMs: number; syncConcurrency: number };
}) {
  const { syncIntervalMs, syncLeadMs, syncConcurrency } = deps.options;
  const lockMs = Math.min(30_000, Math.max(200, syncIntervalMs / 4));
  let worker: Worker<SyncJob> | undefined;

  return {
    start(): void {
      worker = new Worker<SyncJob>(
        SYNC_QUEUE,
        async (job) => {
          const dueMs = tickDueTime(job.id);
          if (dueMs === undefined) {
            deps.logger.warn({ jobId: job.id }, "not a scheduler's job; ignored");
            return;
          }
          await deps.tick(job.data.roomId, dueMs + syncLeadMs);
        },
        {
          connection: deps.connection,
          prefix: deps.prefix,
          concurrency: syncConcurrency,
          lockDuration: lockMs,
          stalledInterval: lockMs,
          maxStalledCount: 1,
        },
      );
      // Redis outages are reported by the service's own connection; here they are only noise.
      worker.on("error", (err) => deps.logger.debug({ err }, "sync worker error"));
      worker.on("failed", (job, err) => deps.logger.warn({ err, roomId: job?.data.roomId, jobId: job?.id }, "sync tick failed"));
    },

    /** True while the worker takes jobs. */
    isRunning: (): boolean => worker?.isRunning() ?? false,

    /**
     * Stops taking jobs and lets the ticks in hand go out (each is due within SYNC_LEAD_MS).
     * A close that does not finish by then (Redis unreachable) is cut short: the jobs it held
     * come back to the other workers as stalled jobs.
     */
    async stop(): Promise<void> {
      if (worker === undefined) return;
      const closing = worker.close().then(
        () => true,
        (err: unknown) => {
          deps.logger.warn({ err }, "sync worker close failed");
          return true;
        },
      );
      const bound = new Promise<false>((resolve) => setTimeout(() => resolve(false), syncLeadMs + 2000).unref());
      if (!(await Promise.race([closing, bound]))) {
        deps.logger.warn("sync worker did not close in time; disconnecting");
        await worker.disconnect();
      }
    },
  };
}
