import { numberSetting, portSetting, stringSetting } from "../common/config.js";
import { rttFreshSetting } from "../clock/room-rtt-index.js";

/**
 * The periodic playback_sync, shared by the playback service (which turns a room's schedule
 * on and off) and the scheduler (which sends the ticks): both must use the same values.
 */
export const syncSettings = {
  /** A playing room gets a playback_sync this often. */
  syncIntervalMs: numberSetting("SYNC_INTERVAL_MS", 10_000, { min: 50, max: 3_600_000, integer: true }),
  /**
   * BullMQ hands a due job to a worker tens of milliseconds late; the scheduler takes each tick
   * this much before its instant and sends it at the instant.
   */
  syncLeadMs: numberSetting("SYNC_LEAD_MS", 200, { min: 0, max: 5000, integer: true }),
  /** The sync queue's hash tag (see syncQueueKeys): deployments sharing one Redis each take their own. */
  syncQueueTag: stringSetting("SYNC_QUEUE_TAG", "playback-sync", {
    pattern: /^[A-Za-z0-9_-]{1,64}$/,
    describe: 'must be 1 to 64 letters, digits, "-" or "_"',
  }),
};

export type SyncOptions = { syncIntervalMs: number; syncLeadMs: number; syncQueueTag: string };

/** The playback service's own settings (besides the common ones). */
export const playbackSettings = {
  port: portSetting("PLAYBACK_PORT", 8082),
  /** GET /healthz and /metrics for operators (not on the public port). */
  operatorPort: portSetting("PLAYBACK_OPERATOR_PORT", 9082),
  /**
   * The start buffer is clamp(multiplier x the room's max round trip, min, max), plus the
   * largest output latency its members reported (see syncBufferMs).
   */
  rttMultiplier: numberSetting("SYNC_BUFFER_RTT_MULTIPLIER", 2, { min: 0 }),
  minBufferMs: numberSetting("SYNC_BUFFER_MIN_MS", 100, { min: 0 }),
  maxBufferMs: numberSetting("SYNC_BUFFER_MAX_MS", 500, { min: 0 }),
  /** The round trip assumed for a room without fresh clock samples. */
  defaultRttMs: numberSetting("SYNC_DEFAULT_RTT_MS", 50, { min: 0 }),
  /** The buffer adds the members' largest reported output latency, up to this much. */
  maxOutputLatencyMs: numberSetting("SYNC_BUFFER_MAX_OUTPUT_LATENCY_MS", 1000, { min: 0, max: 60_000 }),
  /** A member's round trip counts for the buffer while their newest clock sample is this young (the clock service's setting). */
  rttFreshMs: rttFreshSetting,
  ...syncSettings,
};

