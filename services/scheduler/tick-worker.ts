import { Worker, type ConnectionOptions, type Job } from "bullmq";
import type { ClockSource } from "../common/clock-source.js";
import type { Logger } from "../common/logger.js";
import { SYNC_QUEUE, tickDueTime, type SyncJob } from "../playback/sync-schedule.js";
import type { SchedulerMetrics } from "./metrics.js";
import type { TickHandler } from "./tick-handler.js";

/**
 * The BullMQ worker of the `playback-sync` queue. Jobs are due `leadMs` before their tick's
 * instant (BullMQ hands due jobs over tens of milliseconds late), so each one reaches this
 * process early and its tick goes out on the instant.
 *
 * A job is done as soon as its tick is in hand: the tick waits for its instant on a timer here,
 * not in the job. A worker takes jobs one Redis round trip after another and starts none while
 * it still finds due ones, up to its concurrency; jobs that sat waiting for their instant would
 * hold that many slots, and their locks (renewed only once a job runs) lapse under load, so
 * they would run twice. The cost: a process that dies loses the ticks in hand, at most one per
 * room, which a stalled job would lose too (the room's next tick is out before it is back).
 *
 * BullMQ makes a scheduler's next job when the current one is taken, so a dead worker's rooms
 * tick on from the other workers at once, except a room whose job it took but had not yet
 * followed up: that one waits for the stalled-job check. Locks and checks of a quarter
 * interval (1-30 s) bring it back within lock + 2 checks, under an interval at 10 s, so it
 * loses one tick.
 */
export function createTickWorker(deps: {
  connection: ConnectionOptions;
  /** The queue's BullMQ prefix (SyncSchedule.keys.prefix). */
  prefix: string;
  tick: TickHandler;
  clock: ClockSource;
  metrics: SchedulerMetrics;
  logger: Logger;
  options: { syncIntervalMs: number; syncLeadMs: number; syncConcurrency: number };
}) {
  const { syncIntervalMs, syncLeadMs, syncConcurrency } = deps.options;
  const lockMs = Math.min(30_000, Math.max(1000, syncIntervalMs / 4));
  /** Ticks in hand, waiting for their instant or being sent. */
  const inHand = new Set<Promise<unknown>>();
  let worker: Worker<SyncJob> | undefined;

  async function accept(job: Job<SyncJob>): Promise<void> {
    const dueMs = tickDueTime(job.id);
    if (dueMs === undefined) {
      deps.logger.warn({ jobId: job.id }, "not a scheduler's job; ignored");
      return;
    }
    deps.metrics.jobPickupDelay.observe(Math.max(0, deps.clock.now() - dueMs) / 1000);
    const { roomId } = job.data;
    const sending = deps
      .tick(roomId, dueMs + syncLeadMs)
      .catch((err: unknown) => {
        deps.metrics.ticks.inc({ outcome: "error" });
        deps.logger.warn({ err, roomId }, "sync tick failed");
      })
      .finally(() => inHand.delete(sending));
    inHand.add(sending);
  }

  return {
    start(): void {
      worker = new Worker<SyncJob>(SYNC_QUEUE, accept, {
        connection: deps.connection,
        prefix: deps.prefix,
        concurrency: syncConcurrency,
        lockDuration: lockMs,
        stalledInterval: lockMs,
        maxStalledCount: 1,
      });
      // Redis outages are reported by the service's own connection; here they are only noise.
      worker.on("error", (err) => deps.logger.debug({ err }, "sync worker error"));
    },

    /**
     * Stops taking jobs, then sends the ticks in hand (each is due within SYNC_LEAD_MS). A
     * close that does not finish in time (Redis unreachable) is cut short: a job it held comes
     * back to the other workers as a stalled job.
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
      await Promise.all(inHand);
    },
  };
}
