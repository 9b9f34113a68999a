import type { ClockEstimateValue } from "./clock-filter.js";

/** What the model follows: the filter's estimate at one device instant, which extrapolates with its drift. */
export type ClockFit = Pick<ClockEstimateValue, "offsetMs" | "driftPpm" | "referenceTimeMs">;

/** How the published estimate may move when a new fit arrives. */
export interface StepOptions {
  /** The estimate of server time never steps back by more than this at once (ms). */
  maxBackwardStepMs: number;
  /** A larger backward correction is spread out at this rate (ppm of elapsed device time). */
  slewPpm: number;
  /**
   * A change larger than this (either way) is taken at once: the device's clock was set or
   * slept, or the estimate was that far off.
   */
  resetStepMs: number;
}

/**
 * Backward corrections are slewed at 0.5 %, the largest rate nudge the playback tiers use:
 * as inaudible, and a 40 ms error is gone in 8 s. One larger than 40 ms (the playback tiers'
 * seek threshold) is taken at once, as the tiers would seek for it: a device whose first
 * pings all queued (a gateway busy with a room's worth of logins) started 100 ms off, and
 * slewing that in kept it audibly off for 20 s.
 */
export const DEFAULT_STEP_OPTIONS: StepOptions = { maxBackwardStepMs: 1, slewPpm: 5000, resetStepMs: 40 };

/**
 * The published clock: the filter's latest fit, plus whatever is left of a backward
 * correction being slewed in. Server time, as the app sees it, moves forward smoothly: a
 * better fit that puts it earlier is applied in a small step and then at slewPpm, so a
 * playing track never hears time go backwards by more than maxBackwardStepMs.
 */
export class ClockModel {
  private fit: ClockFit | undefined;
  /** How far the published time is still ahead of the fit at slewFromLocal (ms, >= 0). */
  private slewMs = 0;
  private slewFromLocal = 0;

  constructor(private readonly opts: StepOptions = DEFAULT_STEP_OPTIONS) {}

  /** True once a fit has been published. */
  get ready(): boolean {
    return this.fit !== undefined;
  }

  /** The fit being followed (undefined before the first). */
  get current(): ClockFit | undefined {
    return this.fit;
  }

  /** What is left of a slewed correction at device time `localMs` (ms, >= 0). */
  pendingSlewMs(localMs: number): number {
    if (this.slewMs === 0) return 0;
    const done = Math.max(0, localMs - this.slewFromLocal) * this.opts.slewPpm * 1e-6;
    return Math.max(0, this.slewMs - done);
  }

  /**
   * Follows a new fit at device time `nowLocal`; returns the step taken at once (ms, server
   * time). `unbounded` takes it whole, either way (while the first samples come in).
   */
  update(next: ClockFit, nowLocal: number, unbounded = false): number {
    const before = this.fit === undefined ? undefined : this.serverAt(nowLocal);
    const target = fitAt(next, nowLocal);
    this.fit = next;
    this.slewMs = 0;
    if (before === undefined) return 0;
    const delta = target - before;
    if (unbounded || delta >= -this.opts.maxBackwardStepMs || Math.abs(delta) > this.opts.resetStepMs) return delta;
    this.slewMs = -delta - this.opts.maxBackwardStepMs;
    this.slewFromLocal = nowLocal;
    return -this.opts.maxBackwardStepMs;
  }

  /** Server time at device time `localMs`. Throws before the first fit. */
  serverAt(localMs: number): number {
    if (this.fit === undefined) throw new Error("the clock is not synchronised yet");
    return fitAt(this.fit, localMs) + this.pendingSlewMs(localMs);
  }

  /** The device time at which the server's clock reads `serverMs`. Throws before the first fit. */
  localAt(serverMs: number): number {
    if (this.fit === undefined) throw new Error("the clock is not synchronised yet");
    // serverAt has slope 1 +- a few hundred ppm: a few fixed-point steps reach float precision.
    let l = serverMs - this.fit.offsetMs;
    for (let i = 0; i < 4; i++) l += serverMs - this.serverAt(l);
    return l;
  }
}

/** Server time at device time `localMs` by a fit. */
export function fitAt(fit: ClockFit, localMs: number): number {
  return localMs + fit.offsetMs + fit.driftPpm * 1e-6 * (localMs - fit.referenceTimeMs);
}
