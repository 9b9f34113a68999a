import { numberSetting, portSetting, urlSetting } from "../common/config.js";

/** The playback service's own settings (besides the common ones). */
export const playbackSettings = {
  port: portSetting("PLAYBACK_PORT", 8082),
  /** GET /healthz and /metrics for operators (not on the public port). */
  operatorPort: portSetting("PLAYBACK_OPERATOR_PORT", 9082),
  clockUrl: urlSetting("CLOCK_URL", "http://127.0.0.1:8081", ["http", "https"]),
  /** The start buffer is clamp(multiplier x the room's max round trip, min, max). */
  rttMultiplier: numberSetting("SYNC_BUFFER_RTT_MULTIPLIER", 2, { min: 0 }),
  minBufferMs: numberSetting("SYNC_BUFFER_MIN_MS", 100, { min: 0 }),
  maxBufferMs: numberSetting("SYNC_BUFFER_MAX_MS", 500, { min: 0 }),
  /** The round trip assumed for a room without fresh clock samples. */
  defaultRttMs: numberSetting("SYNC_DEFAULT_RTT_MS", 50, { min: 0 }),
};

export type BufferOptions = { rttMultiplier: number; minBufferMs: number; maxBufferMs: number; defaultRttMs: number };
