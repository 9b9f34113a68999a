import type { Registry } from "prom-client";
import type { ClockSource } from "../common/clock-source.js";
import type { Logger } from "../common/logger.js";
import { closeRedis, createQueueConnection, startWhenRedisReady, type RedisClient } from "../common/redis.js";
import { createRedisServiceServer, type ServiceAddressOptions } from "../common/server.js";
import type { SyncOptions } from "../playback/config.js";
import { createPlaybackStore } from "../playback/playback-store.js";
import { createSyncSchedule } from "../playback/sync-schedule.js";
import { createSyncTicks } from "../playback/sync-ticks.js";
import { createSchedulerMetrics } from "./metrics.js";
import { createReconciler } from "./reconciler.js";
import { createTickHandler } from "./tick-handler.js";
import { createTickWorker } from "./tick-worker.js";

export interface SchedulerServerDeps {
  redis: RedisClient;
  clock: ClockSource;
  logger: Logger;
  metrics: Registry;
  options: SyncOptions &
    ServiceAddressOptions & {
    redisUrl: string;
    redisClusterNodes: ReadonlyArray<{ host: string; port: number }>;
    syncMaxLatenessMs: number;
    syncConcurrency: number;
    syncReconcileIntervalMs: number;
  };
}

/**
 * The scheduler: sends each playing room's playback_sync every SYNC_INTERVAL_MS from BullMQ
 * job schedulers, reconciles the schedules with the rooms' timelines, and serves health and
 * metrics. Any number of scheduler processes may run against one Redis.
 */
export function createSchedulerServer(deps: SchedulerServerDeps) {
  const { options: o, clock, logger } = deps;
  const connection = createQueueConnection({ url: o.redisUrl, clusterNodes: o.redisClusterNodes, name: "scheduler-queue" });
  const store = createPlaybackStore(deps.redis);
  const schedule = createSyncSchedule({ redis: deps.redis, connection, store, clock, options: o, logger });
  const metrics = createSchedulerMetrics(deps.metrics, schedule.scheduledCount);
  const tick = createTickHandler({
    // A room remembers its last tick for as long as a repeated job could still send it.
    ticks: createSyncTicks({ store, tickMarkTtlMs: o.syncMaxLatenessMs + 2 * o.syncIntervalMs }),
    schedule,
    clock,
    metrics,
    logger,
    maxLatenessMs: o.syncMaxLatenessMs,
  });
  const worker = createTickWorker({ connection, prefix: schedule.keys.prefix, tick, clock, metrics, logger, options: o });
  const reconciler = createReconciler({ schedule, redis: deps.redis, metrics, logger, intervalMs: o.syncReconcileIntervalMs });
  const server = createRedisServiceServer(deps, { serviceNames: [], redis: deps.redis, routes: () => {} });
  let reconciled: Promise<void> = Promise.resolve();
  let workerStart = { cancel: () => {} };

  return {
    reconciler,
    /** The operators' port: health and metrics (after start). */
    operatorPort: () => server.operatorPort(),
    /** Resolves once the start-up reconcile has succeeded (or the server stopped). */
    reconciled: () => reconciled,
    /**
     * Listens (health, metrics), starts the worker once Redis answers, and starts a reconcile
     * that is retried until Redis answers (see `reconciled`); resolves with the port.
     */
    async start(): Promise<number> {
      const port = await server.start();
      // A tick taken before this process's own Redis answers would fail (a stalled job is
      // handed over as soon as the worker starts).
      workerStart = startWhenRedisReady(deps.redis, () => worker.start());
      reconciled = reconciler.reconcileUntilDone();
      reconciler.start();
      return port;
    },
    async stop(): Promise<void> {
      workerStart.cancel();
      await reconciler.stop();
      await worker.stop();
      await schedule.close();
      await server.stop();
      await closeRedis(connection);
    },
  };
}
