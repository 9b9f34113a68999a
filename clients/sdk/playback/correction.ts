/**
 * Drift correction in tiers: how an app's audio that has drifted from the room's timeline gets
 * back, given how far off it is. Small errors are left alone (inaudible, and chasing them
 * would only add jitter), medium ones are closed by playing slightly fast or slow (a rate
 * change of a fraction of a percent is inaudible), and large ones by a seek.
 */

/** What to do about a playback error. */
export type CorrectionTier = "in-sync" | "nudge" | "seek";

/** Tier thresholds and rate bounds. Defaults: DEFAULT_CORRECTION_OPTIONS. */
export interface CorrectionOptions {
  /** Errors below this are left alone (ms). */
  ignoreMs: number;
  /** Errors above this are fixed with a seek (ms). */
  seekMs: number;
  /** The smallest rate change a nudge uses (fraction: 0.0005 = 0.05 %). */
  minNudge: number;
  /** The largest rate change a nudge uses (fraction: 0.005 = 0.5 %). */
  maxNudge: number;
  /** A nudge aims to close the gap within about this long (ms), within the rate bounds. */
  nudgeHorizonMs: number;
}

export const DEFAULT_CORRECTION_OPTIONS: CorrectionOptions = {
  ignoreMs: 1,
  seekMs: 40,
  minNudge: 0.0005,
  maxNudge: 0.005,
  nudgeHorizonMs: 2000,
};

/** A decision: the tier and, for a nudge, the rate change (negative: play slower). */
export interface CorrectionDecision {
  tier: CorrectionTier;
  /** Fraction to add to the playback rate: 0 unless nudging. */
  nudge: number;
}

/**
 * Decides the tier for `errorMs` (the app's position minus where it should be: positive means
 * ahead). A nudge that is under way continues until the error is below half the ignore
 * threshold, so the rate does not flap at the boundary.
 */
export function decideCorrection(errorMs: number, opts: CorrectionOptions, previous: CorrectionTier = "in-sync"): CorrectionDecision {
  const size = Math.abs(errorMs);
  if (size > opts.seekMs) return { tier: "seek", nudge: 0 };
  const threshold = previous === "nudge" ? opts.ignoreMs / 2 : opts.ignoreMs;
  if (size < threshold) return { tier: "in-sync", nudge: 0 };
  const magnitude = Math.min(opts.maxNudge, Math.max(opts.minNudge, size / opts.nudgeHorizonMs));
  return { tier: "nudge", nudge: -Math.sign(errorMs) * magnitude };
}
