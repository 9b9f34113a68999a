import { numberSetting, portSetting } from "../common/config.js";
import { syncSettings } from "../playback/config.js";

/** The scheduler's own settings (besides the common ones). */
export const schedulerSettings = {
  /** grpc.health.v1 only: the scheduler serves no API. */
  port: portSetting("SCHEDULER_PORT", 8084),
  /** GET /healthz and /metrics for operators. */
  operatorPort: portSetting("SCHEDULER_OPERATOR_PORT", 9084),
  ...syncSettings,
  /** A tick picked up later than this after its instant (a worker was down) is skipped. */
  syncMaxLatenessMs: numberSetting("SYNC_MAX_LATENESS_MS", 5000, { min: 0, max: 3_600_000, integer: true }),
  /** Tick jobs one process takes from the queue at a time (a job is done once its tick is in hand). */
  syncConcurrency: numberSetting("SYNC_CONCURRENCY", 50, { min: 1, max: 10_000, integer: true }),
  /** How often one of the scheduler processes checks every room's schedule against its timeline. */
  syncReconcileIntervalMs: numberSetting("SYNC_RECONCILE_INTERVAL_MS", 60_000, { min: 1000, integer: true }),
};
