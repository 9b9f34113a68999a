/**
 * A clock's offset AND drift, as a small Kalman filter over its samples (the way
 * Sendspin tracks a clock), as pure functions.
 *
 * A device's clock runs fast or slow against the server's (+-100 ppm is common: 6 ms a minute),
 * so an offset alone goes stale as it ages. The filter's state is the offset at a reference
 * time and the drift (how fast the offset changes), with their covariance; any reader
 * extrapolates
 *
 *     offset(T) = offset_ms + drift_ppm * 1e-6 * (T - reference_time_ms)
 *
 * Each sample is weighed by how much it queued: its round trip above the link's own (the
 * floor the clock filter keeps, clock-filter.ts) is delay that made it wrong by up to half of
 * it. So a sample that queued 8 ms counts for little, one that queued more than maxQueueMs for
 * nothing, and the fit rests on the clean ones, as a minimum-RTT filter would, while the drift
 * is learned over minutes of them. Between samples the state is
 * predicted forward; a drift that wanders slowly (temperature) is allowed for by process noise.
 *
 * A sample far outside what the filter expects is skipped: heavy-tailed delays make some
 * clean-looking samples wrong by several ms. Clean samples far off several times in a row mean
 * the device's clock was stepped (a phone's own NTP): the filter starts over.
 */

/** One sample as the filter sees it. */
export interface DriftSample {
  /** When the sample was taken, on the keeper's axis (the server: t1). */
  timeMs: number;
  offsetMs: number;
  rttMs: number;
}

/** The filter's state: offset at referenceTimeMs and drift, with their covariance. */
export interface DriftState {
  referenceTimeMs: number;
  offsetMs: number;
  /** d offset / d time, dimensionless (1e-6 = 1 ppm). */
  drift: number;
  /** Covariance: offset (ms^2), offset x drift (ms), drift (1). */
  pOO: number;
  pOD: number;
  pDD: number;
  /** Consecutive clean samples that disagreed beyond belief (a device clock that was stepped). */
  surprises: number;
  /** The time of the first sample this filter took in (since it started or restarted). */
  startTimeMs: number;
}

export interface DriftFilterOptions {
  /**
   * A clean sample's own error, ms, 1 sigma: stamping, the client clock's resolution, and the
   * jitter even the best samples of a window carry (the benchmark's WAN profiles fit 0.5).
   */
  sampleNoiseMs: number;
  /** The prior spread of device drift, 1 sigma (1e-4 = 100 ppm). */
  driftPrior: number;
  /** How fast a device's drift wanders: its variance grows by this per ms (1/ms). */
  driftWanderPerMs: number;
  /** A sample this many sigmas (and at least surpriseFloorMs) off is not believed... */
  surpriseSigmas: number;
  surpriseFloorMs: number;
  /** ...and this many such clean samples in a row mean the device's clock jumped: start over. */
  surprisesToReset: number;
  /** A sample is clean when it queued at most this long (ms). */
  cleanQueueMs: number;
  /**
   * A sample that queued longer than this (ms) is not taken in at all. Its weight would be
   * tiny, but a queue that stays on one side for minutes (a download's, a stalled link's)
   * would pull the offset, and with it the drift, by a tiny amount per sample, always the same way.
   */
  maxQueueMs: number;
  /** Drift is kept within +-this (a crystal further off is broken, not drifting). */
  maxDrift: number;
}

export const defaultDriftFilterOptions: DriftFilterOptions = {
  sampleNoiseMs: 0.5,
  driftPrior: 100e-6,
  // (0.01 ppm)^2 per second: drift may wander about 0.1 ppm over a few minutes.
  driftWanderPerMs: (0.01e-6) ** 2 / 1000,
  surpriseSigmas: 6,
  surpriseFloorMs: 5,
  surprisesToReset: 3,
  cleanQueueMs: 2,
  maxQueueMs: 10,
  maxDrift: 500e-6,
};

/** How long a sample queued beyond the link's own round trip. */
const queuedMs = (sample: DriftSample, linkRttMs: number) => Math.max(0, sample.rttMs - linkRttMs);

/** How much a sample's offset is believed: its variance, from its queueing delay. */
export function sampleVariance(sample: DriftSample, linkRttMs: number, opts: DriftFilterOptions): number {
  // Queueing on one direction only errs by up to half of it; spread evenly, sigma = q / (2 sqrt 3).
  return opts.sampleNoiseMs ** 2 + queuedMs(sample, linkRttMs) ** 2 / 12;
}

/** A new filter from its first sample: the offset within half its round trip, drift unknown. */
export function startFilter(sample: DriftSample, linkRttMs: number, opts: DriftFilterOptions): DriftState {
  return {
    referenceTimeMs: sample.timeMs,
    offsetMs: sample.offsetMs,
    drift: 0,
    pOO: sampleVariance(sample, linkRttMs, opts) + (sample.rttMs / 2) ** 2 / 3,
    pOD: 0,
    pDD: opts.driftPrior ** 2,
    surprises: 0,
    startTimeMs: sample.timeMs,
  };
}

/** The state carried forward to time `atMs` (never backward). */
export function predict(s: DriftState, atMs: number, opts: DriftFilterOptions): DriftState {
  const dt = atMs - s.referenceTimeMs;
  if (dt <= 0) return s;
  return {
    ...s,
    referenceTimeMs: atMs,
    offsetMs: s.offsetMs + s.drift * dt,
    pOO: s.pOO + 2 * dt * s.pOD + dt * dt * s.pDD,
    pOD: s.pOD + dt * s.pDD,
    pDD: s.pDD + opts.driftWanderPerMs * dt,
  };
}

/**
 * Takes one sample in; `linkRttMs` is the link's own round trip (the clock filter's floor).
 * A sample that disagrees beyond belief is skipped, and when it is clean it counts as a
 * surprise; surprisesToReset of them with no clean agreeing sample in between restart the
 * filter from the latest.
 */
export function updateFilter(s: DriftState, sample: DriftSample, linkRttMs: number, opts: DriftFilterOptions): DriftState {
  const p = predict(s, sample.timeMs, opts);
  if (queuedMs(sample, linkRttMs) > opts.maxQueueMs) return p;
  const innovation = sample.offsetMs - p.offsetMs;
  const innovationVar = p.pOO + sampleVariance(sample, linkRttMs, opts);
  const clean = queuedMs(sample, linkRttMs) <= opts.cleanQueueMs;
  if (Math.abs(innovation) > Math.max(opts.surpriseFloorMs, opts.surpriseSigmas * Math.sqrt(innovationVar))) {
    if (!clean) return p;
    return p.surprises + 1 >= opts.surprisesToReset ? startFilter(sample, linkRttMs, opts) : { ...p, surprises: p.surprises + 1 };
  }
  const kO = p.pOO / innovationVar;
  const kD = p.pOD / innovationVar;
  const drift = Math.max(-opts.maxDrift, Math.min(opts.maxDrift, p.drift + kD * innovation));
  return {
    ...p,
    offsetMs: p.offsetMs + kO * innovation,
    drift,
    pOO: (1 - kO) * p.pOO,
    pOD: (1 - kO) * p.pOD,
    pDD: p.pDD - kD * p.pOD,
    surprises: clean ? 0 : p.surprises,
  };
}

/** The offset at time `atMs` and its standard deviation. */
export function offsetAt(s: DriftState, atMs: number, opts: DriftFilterOptions): { offsetMs: number; sigmaMs: number } {
  const p = predict(s, Math.max(atMs, s.referenceTimeMs), opts);
  const dt = atMs - s.referenceTimeMs;
  if (dt >= 0) return { offsetMs: p.offsetMs, sigmaMs: Math.sqrt(p.pOO) };
  // Looking back: the same line, with the uncertainty of going back as far.
  return { offsetMs: s.offsetMs + s.drift * dt, sigmaMs: Math.sqrt(s.pOO + 2 * dt * s.pOD + dt * dt * s.pDD) };
}
