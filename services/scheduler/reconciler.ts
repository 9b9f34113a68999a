import { randomUUID } from "node:crypto";
import type { Logger } from "../common/logger.js";
import type { RedisClient } from "../common/redis.js";
import type { RoomReconcile, SyncSchedule } from "../playback/sync-schedule.js";
import type { SchedulerMetrics } from "./metrics.js";

/** Rooms reconciled at once. */
const BATCH = 200;
/** The first pause before the start-up reconcile tries again. */
const STARTUP_RETRY_MS = 100;

/**
 * Checks every room that is indexed as playing or has a job scheduler against its timeline:
 * a playing room without a live scheduler gets one, a scheduler or index entry of a room that
 * is idle, paused or gone is removed. It reads the index (SSCAN) and the queue's schedulers,
 * never the key space.
 *
 * Each scheduler process reconciles when it starts; after that, one process at a time (the
 * one holding a lock for an interval) does it every `intervalMs`, catching schedules that a
 * failed hook left behind.
 */
export function createReconciler(deps: {
  schedule: SyncSchedule;
  redis: RedisClient;
  metrics: SchedulerMetrics;
  logger: Logger;
  intervalMs: number;
}) {
  const { schedule, metrics } = deps;
  const owner = randomUUID();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<Record<RoomReconcile, number>> | undefined;
  let stopped = false;
  let wakeRetry: (() => void) | undefined;

  async function reconcileAll(): Promise<Record<RoomReconcile, number>> {
    const started = performance.now();
    const counts: Record<RoomReconcile, number> = { ok: 0, scheduled: 0, indexed: 0, unscheduled: 0 };
    const count = (result: RoomReconcile) => {
      counts[result]++;
      if (result !== "ok") metrics.reconcileFixes.inc({ fix: result });
    };
    const scheduled = await schedule.scheduledRooms();
    const indexed = new Set<string>();
    for await (const ids of schedule.indexedRooms(BATCH)) {
      for (const id of ids) indexed.add(id);
      const results = await Promise.all(ids.map((id) => schedule.reconcileRoom(id, { indexed: true, scheduler: scheduled.get(id) ?? "none" })));
      results.forEach(count);
    }
    const unindexed = [...scheduled].filter(([id]) => !indexed.has(id));
    for (let i = 0; i < unindexed.length; i += BATCH) {
      const results = await Promise.all(
        unindexed.slice(i, i + BATCH).map(([id, state]) => schedule.reconcileRoom(id, { indexed: false, scheduler: state })),
      );
      results.forEach(count);
    }
    const fixes = counts.scheduled + counts.indexed + counts.unscheduled;
    deps.logger[fixes > 0 ? "info" : "debug"]({ ...counts, ms: Math.round(performance.now() - started) }, "sync schedules reconciled");
    return counts;
  }

  /** One reconcile now (joins one in progress); resolves with what it found per room. */
  function runOnce(): Promise<Record<RoomReconcile, number>> {
    running ??= reconcileAll().finally(() => (running = undefined));
    return running;
  }

  /**
   * The start-up reconcile: Redis may not answer yet (a cluster client is not ready for a moment
   * after it connects), so it tries again after a growing pause until one succeeds or stop().
   */
  async function reconcileUntilDone(): Promise<void> {
    for (let pauseMs = STARTUP_RETRY_MS; !stopped; pauseMs = Math.min(2 * pauseMs, deps.intervalMs)) {
      try {
        await runOnce();
        return;
      } catch (err) {
        deps.logger.warn({ err, retryInMs: pauseMs }, "sync reconcile failed");
      }
      if (stopped) return;
      await new Promise<void>((resolve) => {
        const retry = setTimeout(resolve, pauseMs);
        wakeRetry = () => {
          clearTimeout(retry);
          resolve();
        };
      });
    }
  }

  return {
    runOnce,
    reconcileUntilDone,

    /** From now on, every interval: reconcile if no other process did within the interval. */
    start(): void {
      timer = setInterval(() => {
        deps.redis
          .set(schedule.keys.reconcileLock, owner, "PX", deps.intervalMs, "NX")
          .then((won) => (won === "OK" ? runOnce() : undefined))
          .catch((err: unknown) => deps.logger.warn({ err }, "sync reconcile failed"));
      }, deps.intervalMs);
      timer.unref();
    },

    async stop(): Promise<void> {
      stopped = true;
      wakeRetry?.();
      clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}
