import { numberSetting, portSetting } from "../common/config.js";
import { rttFreshSetting } from "./room-rtt-index.js";

/** The clock service's own settings (besides the common ones). */
export const clockSettings = {
  port: portSetting("CLOCK_PORT", 8081),
  /** GET /healthz and /metrics for operators (not on the public port). */
  operatorPort: portSetting("CLOCK_OPERATOR_PORT", 9081),
  windowSize: numberSetting("CLOCK_WINDOW_SIZE", 16, { min: 1, max: 256, integer: true }),
  maxSampleAgeMs: numberSetting("CLOCK_MAX_SAMPLE_AGE_MS", 120_000, { min: 1000, integer: true }),
  maxRttMs: numberSetting("CLOCK_MAX_RTT_MS", 10_000, { min: 1 }),
  clientResolutionMs: numberSetting("CLOCK_CLIENT_RESOLUTION_MS", 1, { min: 0, max: 100 }),
  sessionTtlMs: numberSetting("CLOCK_SESSION_TTL_MS", 300_000, { min: 1000, integer: true }),
  rttFreshMs: rttFreshSetting,
  sessionCacheSize: numberSetting("CLOCK_SESSION_CACHE_SIZE", 20_000, { min: 0, integer: true }),
  rttIndexStepMs: numberSetting("CLOCK_RTT_INDEX_STEP_MS", 1, { min: 0 }),
  rttIndexStepRatio: numberSetting("CLOCK_RTT_INDEX_STEP_RATIO", 0.1, { min: 0, max: 1 }),
};
