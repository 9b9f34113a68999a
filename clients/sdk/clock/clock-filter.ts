/**
 * The clock filter: NTP-style samples in, an estimate of the server's clock out.
 *
 * A sample is one ping: sent at t0 and answered at t3 by the device's clock, received at t1
 * and answered at t2 by the server's. Its round trip is (t3 - t0) - (t2 - t1) and its offset
 * ((t1 - t0) + (t2 - t3)) / 2, so that server time = device time + offset. Queueing only ever
 * adds delay, and delay added to one direction only is what makes an offset wrong (by half
 * of it), so the samples with the smallest round trips are the truthful ones.
 *
 * The filter keeps the samples of the last minutes, takes the minimum-RTT sample of each
 * group of consecutive samples, drops the groups whose best sample still queued noticeably,
 * and fits offset and drift (a weighted line through the rest: clocks of devices run up to
 * a few hundred ppm fast or slow, 6 ms a minute at 100 ppm). The line predicts the offset
 * at any instant, so the estimate does not go stale between pings.
 *
 * What no filter can see: a path whose two directions differ by a constant `a` gives every
 * sample the same offset error a/2. The error bound here is statistical (the scatter of the
 * fit) and does not include it; the round trip bounds it (|a|/2 <= rtt/2).
 */

/** One ping exchange: t0 and t3 by the device's clock, t1 and t2 by the server's (ms). */
export interface ClockSample {
  t0: number;
  t1: number;
  t2: number;
  t3: number;
}

/** The filter's settings. Defaults: DEFAULT_CLOCK_FILTER_OPTIONS. */
export interface ClockFilterOptions {
  /** Samples older than this (device time, behind the newest) leave the fit. */
  windowMs: number;
  /** The most samples kept. */
  maxSamples: number;
  /** The minimum-RTT sample of each group of this many consecutive samples enters the fit. */
  groupSize: number;
  /** Drift is fitted once the chosen samples span at least this long; before, it is 0 (or the last fit). */
  minDriftSpanMs: number;
  /** Fitted drift is clamped to +-this (ppm). */
  maxDriftPpm: number;
  /** A sample's own timing noise (stamping, scheduling), ms: the floor of its error. */
  sampleNoiseMs: number;
  /** Round trips above this are rejected as broken (ms). */
  maxRttMs: number;
}

export const DEFAULT_CLOCK_FILTER_OPTIONS: ClockFilterOptions = {
  windowMs: 10 * 60_000,
  maxSamples: 600,
  groupSize: 4,
  minDriftSpanMs: 15_000,
  maxDriftPpm: 500,
  sampleNoiseMs: 0.1,
  maxRttMs: 10_000,
};

/** The fitted clock: server(l) = l + offsetMs + driftPpm * 1e-6 * (l - refLocalMs). */
export interface ClockFit {
  offsetMs: number;
  driftPpm: number;
  /** The device-time instant offsetMs refers to. */
  refLocalMs: number;
  /** The smallest round trip among the chosen samples. */
  rttMs: number;
  /** The statistical uncertainty of the offset at refLocalMs (about 2 sigma), ms. */
  errorMs: number;
  /** Uncertainty of the drift (about 2 sigma), ppm; Infinity before it is fitted. */
  driftErrorPpm: number;
  /** Samples in the window, and how many of them were chosen for the fit. */
  sampleCount: number;
  chosenCount: number;
}

interface Point {
  x: number;
  y: number;
  rtt: number;
  w: number;
}

/** The round trip and offset of a sample, undefined when it cannot be right. */
export function evaluateSample(s: ClockSample, maxRttMs = Infinity): { rttMs: number; offsetMs: number; localMs: number } | undefined {
  const rttMs = s.t3 - s.t0 - (s.t2 - s.t1);
  if (![s.t0, s.t1, s.t2, s.t3].every(Number.isFinite) || s.t2 < s.t1 || s.t3 < s.t0 || rttMs < 0 || rttMs > maxRttMs) {
    return undefined;
  }
  return { rttMs, offsetMs: (s.t1 - s.t0 + (s.t2 - s.t3)) / 2, localMs: (s.t0 + s.t3) / 2 };
}

/** Weighted least squares y = a + b (x - x0); b fixed to `fixedSlope` when given. */
function fitLine(points: Point[], x0: number, fixedSlope?: number) {
  let sw = 0;
  let sx = 0;
  let sy = 0;
  for (const p of points) {
    sw += p.w;
    sx += p.w * (p.x - x0);
    sy += p.w * p.y;
  }
  const mx = sx / sw;
  const my = sy / sw;
  let sxx = 0;
  let sxy = 0;
  for (const p of points) {
    const dx = p.x - x0 - mx;
    sxx += p.w * dx * dx;
    sxy += p.w * dx * (p.y - my);
  }
  const b = fixedSlope ?? (sxx > 0 ? sxy / sxx : 0);
  return { a: my - b * mx, b, mx, sw, sxx };
}

/** Median of a non-empty list. */
function median(values: number[]): number {
  const s = [...values].sort((p, q) => p - q);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * The NTP-style filter with a drift fit. Add samples as they complete; `fit()` is the
 * current estimate (undefined before the first valid sample).
 */
export class ClockFilter {
  private readonly samples: Array<{ rttMs: number; offsetMs: number; localMs: number }> = [];
  private readonly opts: ClockFilterOptions;
  private lastDriftPpm: number | undefined;
  private current: ClockFit | undefined;

  constructor(opts: Partial<ClockFilterOptions> = {}) {
    this.opts = { ...DEFAULT_CLOCK_FILTER_OPTIONS, ...opts };
  }

  /** Adds a sample; false (and nothing changes) when it cannot be right. */
  add(sample: ClockSample): boolean {
    const v = evaluateSample(sample, this.opts.maxRttMs);
    if (v === undefined) return false;
    this.samples.push(v);
    const newest = v.localMs;
    while (this.samples.length > this.opts.maxSamples || (this.samples.length > 1 && this.samples[0]!.localMs < newest - this.opts.windowMs)) {
      this.samples.shift();
    }
    this.current = this.refit();
    return true;
  }

  /** The current fit; undefined before any valid sample. */
  fit(): ClockFit | undefined {
    return this.current;
  }

  /** Forgets everything (the device's clock was replaced). */
  reset(): void {
    this.samples.length = 0;
    this.current = undefined;
    this.lastDriftPpm = undefined;
  }

  /** The minimum-RTT sample of each group of consecutive samples, newest group ending at the newest sample. */
  private chooseCandidates(): Point[] {
    const { groupSize } = this.opts;
    const out: Point[] = [];
    // Groups are aligned to the newest sample, so the newest group is always complete once
    // there are groupSize samples, and a group's best sample does not change as samples arrive
    // (except in the newest group).
    for (let end = this.samples.length; end > 0; end -= groupSize) {
      let best = this.samples[end - 1]!;
      for (let i = Math.max(0, end - groupSize); i < end - 1; i++) if (this.samples[i]!.rttMs < best.rttMs) best = this.samples[i]!;
      out.push({ x: best.localMs, y: best.offsetMs, rtt: best.rttMs, w: 0 });
    }
    return out.reverse();
  }

  private refit(): ClockFit | undefined {
    const o = this.opts;
    let points = this.chooseCandidates();
    if (points.length === 0) return undefined;
    const minRtt = Math.min(...points.map((p) => p.rtt));
    // A group whose best sample still queued well beyond the others is left out: its offset
    // may be off by half of that queueing.
    const excess = points.map((p) => p.rtt - minRtt);
    const limit = Math.max(1, 3 * median(excess));
    points = points.filter((p) => p.rtt - minRtt <= limit);
    // Each sample's offset may be off by up to half its extra delay: weigh by that.
    for (const p of points) p.w = 1 / (o.sampleNoiseMs ** 2 + ((p.rtt - minRtt) / 2) ** 2);

    const x0 = points[points.length - 1]!.x;
    const span = x0 - points[0]!.x;
    const fitDrift = points.length >= 3 && span >= o.minDriftSpanMs;
    const fixed = fitDrift ? undefined : (this.lastDriftPpm ?? 0) * 1e-6;
    let line = fitLine(points, x0, fixed);
    if (points.length >= 4) {
      // One pass of outlier removal: residuals far beyond the robust spread.
      const residuals = points.map((p) => p.y - (line.a + line.b * (p.x - x0)));
      const spread = 1.4826 * median(residuals.map(Math.abs));
      const kept = points.filter((_, i) => Math.abs(residuals[i]!) <= Math.max(4 * spread, 4 * o.sampleNoiseMs));
      if (kept.length >= 2 && kept.length < points.length) {
        points = kept;
        line = fitLine(points, x0, fixed);
      }
    }
    const maxDrift = o.maxDriftPpm * 1e-6;
    const b = Math.max(-maxDrift, Math.min(maxDrift, line.b));
    if (fitDrift) this.lastDriftPpm = b * 1e6;

    // Uncertainty: weights are 1/variance of each point, so 1/sum(w) is the variance of the
    // mean and 1/Sxx that of the slope, scaled up when the residuals scatter more than the
    // weights expect (reduced chi-square above 1).
    let chi2 = 0;
    for (const p of points) chi2 += p.w * (p.y - (line.a + b * (p.x - x0))) ** 2;
    const dof = points.length - (fitDrift ? 2 : 1);
    const scale = dof > 0 ? Math.max(1, chi2 / dof) : 1;
    const slopeKnown = fitDrift && line.sxx > 0;
    const varA = scale * (1 / line.sw + (slopeKnown ? line.mx ** 2 / line.sxx : 0));
    const varB = slopeKnown ? scale / line.sxx : Infinity;
    return {
      offsetMs: line.a,
      driftPpm: b * 1e6,
      refLocalMs: x0,
      rttMs: minRtt,
      errorMs: 2 * Math.sqrt(varA),
      driftErrorPpm: 2 * Math.sqrt(varB) * 1e6,
      sampleCount: this.samples.length,
      chosenCount: points.length,
    };
  }
}
