import { rateSetting } from "../common/rate-limit.js";
import { numberSetting, portSetting } from "../common/config.js";

/** The rooms service's own settings (besides the common ones). */
export const roomsSettings = {
  port: portSetting("ROOMS_PORT", 8083),
  /** GET /healthz and /metrics for operators (not on the public port). */
  operatorPort: portSetting("ROOMS_OPERATOR_PORT", 9083),
  /** How long a member whose streams all dropped stays in the room (at least). */
  graceMs: numberSetting("ROOMS_GRACE_MS", 30_000, { min: 0, integer: true }),
  /** How long a member without a stream stays after their last call in the room. */
  idleMs: numberSetting("ROOMS_IDLE_MS", 10 * 60_000, { min: 0, integer: true }),
  /** How long a stream stays attached without its gateway renewing it (gateways renew every 10 s). */
  leaseMs: numberSetting("ROOMS_SESSION_LEASE_MS", 30_000, { min: 1000, integer: true }),
  /** How long an empty room and its code live. */
  emptyRoomTtlMs: numberSetting("ROOMS_EMPTY_TTL_MS", 15 * 60_000, { min: 1000, integer: true }),
  /** How long a user's devices (their output latencies) are remembered after their last report. */
  deviceTtlMs: numberSetting("ROOMS_DEVICE_TTL_MS", 30 * 24 * 3600_000, { min: 1000, integer: true }),
  /** How often the presence sweeper looks for expired leases and grace periods. */
  sweepIntervalMs: numberSetting("ROOMS_SWEEP_INTERVAL_MS", 1000, { min: 10, integer: true }),
  /** Rooms one user may create, "N/window" (s, m or h). */
  createRoomRate: rateSetting("ROOMS_CREATE_RATE_PER_USER", "20/1h"),
};
