import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** The scheduler's own Prometheus metrics (no per-room labels). */
export function createSchedulerMetrics(registry: Registry, schedulerCount: () => Promise<number>) {
  const schedulers: Gauge = new Gauge({
    name: "scheduler_job_schedulers",
    help: "Rooms with a playback_sync job scheduler (read from Redis when scraped)",
    registers: [registry],
    async collect() {
      // Redis away: keep the last value rather than fail the whole scrape.
      await schedulerCount().then(
        (n) => schedulers.set(n),
        () => undefined,
      );
    },
  });
  return {
    schedulers,
    tickLateness: new Histogram({
      name: "scheduler_tick_lateness_seconds",
      help: "Time from a tick's instant (its server_timestamp) to its publication",
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers: [registry],
    }),
    jobPickupDelay: new Histogram({
      name: "scheduler_job_pickup_delay_seconds",
      help: "Time from a tick job's due time (SYNC_LEAD_MS before the tick) to a worker taking it; past SYNC_LEAD_MS the tick goes out late",
      buckets: [0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 5],
      registers: [registry],
    }),
    ticks: new Counter({
      name: "scheduler_ticks_total",
      help: "Tick jobs by outcome: sent, duplicate, late, not-playing, waiting, gone, superseded, error",
      labelNames: ["outcome"],
      registers: [registry],
    }),
    reconcileFixes: new Counter({
      name: "scheduler_reconcile_fixes_total",
      help: "Rooms whose schedule a reconcile corrected: scheduled, indexed, unscheduled",
      labelNames: ["fix"],
      registers: [registry],
    }),
  };
}

export type SchedulerMetrics = ReturnType<typeof createSchedulerMetrics>;
