import { NO_DELAY, type LinkProfile } from "./delay-proxy.js";

/**
 * The network profiles of bench:sync. Each device draws its own base delay from the profile's
 * range (WAN: 5-75 ms each way, so round trips of 10-150 ms).
 */
export interface SyncProfile {
  name: string;
  description: string;
  /** The range of each device's base one-way delay (ms). */
  baseDelayMs: [number, number];
  link: Omit<LinkProfile, "baseDelayMs">;
}

const jitter = { jitterMedianMs: 2, jitterShape: 1.5, jitterMaxMs: 100 };

export const SYNC_PROFILES: SyncProfile[] = [
  {
    name: "zero-jitter",
    description: "WAN base delays (RTT 10-150 ms), no jitter: the self-check (offset error must be well under 1 ms)",
    baseDelayMs: [5, 75],
    link: { ...NO_DELAY },
  },
  {
    name: "lan",
    description: "LAN: RTT 0.5-2 ms, jitter median 0.2 ms",
    baseDelayMs: [0.25, 1],
    link: { ...NO_DELAY, jitterMedianMs: 0.2, jitterShape: 1.5, jitterMaxMs: 10 },
  },
  {
    name: "wan-jitter",
    description: "WAN: RTT 10-150 ms, heavy-tailed jitter (Pareto, median 2 ms each way, cap 100 ms)",
    baseDelayMs: [5, 75],
    link: { ...NO_DELAY, ...jitter },
  },
  {
    name: "spikes",
    description: "wan-jitter plus spikes: 2 a minute per direction, 500 ms long, +50-200 ms",
    baseDelayMs: [5, 75],
    link: { ...NO_DELAY, ...jitter, spikesPerMinute: 2, spikeDurationMs: 500 },
  },
  {
    name: "asymmetry",
    description: "wan-jitter plus a constant 20 ms upstream asymmetry: expect about -10 ms (a/2), invisible to clients",
    baseDelayMs: [5, 75],
    link: { ...NO_DELAY, ...jitter, asymmetryMs: 20 },
  },
];
