import type { LocalClock } from "../clients/sdk/clock/local-clock.js";

/** The host's clock as the truth of a simulation: sub-millisecond, monotonic. */
export const trueNow = (): number => performance.timeOrigin + performance.now();

/**
 * A simulated device's clock: off from the truth by `offsetMs` at `referenceMs` and running
 * `driftPpm` fast (negative: slow), as a phone's crystal does.
 *
 *     local(t) = t + offsetMs + driftPpm * 1e-6 * (t - referenceMs)
 */
export class SkewedClock implements LocalClock {
  constructor(
    readonly offsetMs: number,
    readonly driftPpm: number,
    readonly referenceMs: number = trueNow(),
    private readonly truth: () => number = trueNow,
  ) {}

  now(): number {
    return this.fromTrue(this.truth());
  }

  /** The device time at true time `t`. */
  fromTrue(t: number): number {
    return t + this.offsetMs + this.driftPpm * 1e-6 * (t - this.referenceMs);
  }

  /** The true time at which the device's clock reads `localMs`. */
  toTrue(localMs: number): number {
    return this.referenceMs + (localMs - this.offsetMs - this.referenceMs) / (1 + this.driftPpm * 1e-6);
  }
}
