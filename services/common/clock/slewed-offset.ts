/**
 * The offset between a process's monotonic clock and the host's realtime clock, corrected
 * the way NTP daemons correct a clock: a small correction is slewed (the offset moves toward
 * the new value at a bounded rate, so the process clock runs at most that much fast or slow
 * and never goes backwards), a large one is stepped (the host clock itself was stepped; being
 * seconds apart from every other process is worse than one jump).
 *
 * Pure: the caller passes the monotonic time of every read and correction.
 */
export interface SlewOptions {
  /**
   * The largest rate at which a correction is applied, as a fraction (1/12: the process clock
   * runs at most 8.3% fast or slow while slewing, like chrony's default maxslewrate of 83 333
   * ppm). Below 1, so time never goes backwards: a 1 ms correction takes 12 ms.
   */
  maxSlewRate: number;
  /** Corrections larger than this (ms, either way) are stepped instead of slewed. */
  stepThresholdMs: number;
}

export const defaultSlewOptions: SlewOptions = { maxSlewRate: 1 / 12, stepThresholdMs: 1000 };

export interface Correction {
  /** measured - current offset, ms: how far the process clock was from the host's. */
  deltaMs: number;
  stepped: boolean;
}

export interface SlewedOffset {
  /** The offset (realtime - monotonic, ms) to use at monotonic time `monotonicMs`. */
  at(monotonicMs: number): number;
  /** Starts moving toward `measuredMs`, measured at `monotonicMs`. */
  correct(measuredMs: number, monotonicMs: number): Correction;
}

export function createSlewedOffset(initialMs: number, opts: SlewOptions = defaultSlewOptions): SlewedOffset {
  if (!(opts.maxSlewRate > 0 && opts.maxSlewRate < 1)) throw new RangeError("maxSlewRate must be between 0 and 1");
  // The offset was `fromMs` at monotonic time `since`, and moves toward `targetMs`.
  let since = -Infinity;
  let fromMs = initialMs;
  let targetMs = initialMs;

  function at(monotonicMs: number): number {
    const gap = targetMs - fromMs;
    if (gap === 0) return fromMs;
    const reach = opts.maxSlewRate * Math.max(0, monotonicMs - since);
    return fromMs + Math.max(-reach, Math.min(reach, gap));
  }

  return {
    at,
    correct(measuredMs, monotonicMs) {
      const current = at(monotonicMs);
      const deltaMs = measuredMs - current;
      const stepped = Math.abs(deltaMs) > opts.stepThresholdMs;
      since = monotonicMs;
      fromMs = stepped ? measuredMs : current;
      targetMs = measuredMs;
      return { deltaMs, stepped };
    },
  };
}
