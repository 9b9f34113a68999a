import { Registry } from "prom-client";
import { createLogger } from "../common/logger.js";
import type { RedisClient } from "../common/redis.js";
import type { SyncSchedule } from "../playback/sync-schedule.js";
import { createSchedulerMetrics } from "./metrics.js";
import { createReconciler } from "./reconciler.js";

/** A schedule with no rooms whose Redis answers only from the `failures + 1`-th read on. */
function scheduleAnsweringAfter(failures: number) {
  let reads = 0;
  const schedule = {
    keys: { reconcileLock: "unused" },
    async scheduledRooms() {
      reads++;
      if (reads <= failures) throw new Error("Cluster isn't ready and enableOfflineQueue options is false");
      return new Map();
    },
    async *indexedRooms() {},
  } as unknown as SyncSchedule;
  return { schedule, reads: () => reads };
}

const reconcilerOf = (schedule: SyncSchedule) =>
  createReconciler({
    schedule,
    redis: {} as RedisClient,
    metrics: createSchedulerMetrics(new Registry(), async () => 0),
    logger: createLogger("scheduler", "silent"),
    intervalMs: 1000,
  });

describe("the start-up reconcile", () => {
  it("tries again until Redis answers", async () => {
    const { schedule, reads } = scheduleAnsweringAfter(2);
    await reconcilerOf(schedule).reconcileUntilDone();
    expect(reads()).toBe(3);
  });

  it("gives up when the scheduler stops", async () => {
    const { schedule, reads } = scheduleAnsweringAfter(Infinity);
    const reconciler = reconcilerOf(schedule);
    const done = reconciler.reconcileUntilDone();
    await reconciler.stop();
    await done;
    expect(reads()).toBe(1);
  });
});
