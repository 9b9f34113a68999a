import { median } from "../common/stats.js";
import {
  defaultDriftFilterOptions,
  offsetAt,
  startFilter,
  updateFilter,
  type DriftFilterOptions,
  type DriftState,
} from "./drift-filter.js";

/**
 * NTP-style clock estimation, as pure functions.
 *
 * A sample is one ping exchange: t0 (client send, client clock), t1 (server receive), t2
 * (server send), t3 (client receive, client clock). Its round trip excludes the server's own
 * time, and its offset assumes the two directions took equally long:
 *
 *     rtt    = (t3 - t0) - (t2 - t1)
 *     offset = ((t1 - t0) + (t2 - t3)) / 2        server time = client time + offset
 *
 * Queueing delay only ever adds to a sample's round trip, and it is what makes the two
 * directions unequal, so the samples with the smallest round trips carry the least offset
 * error (the idea of NTP's minimum-RTT clock filter). The last sample is not used as such: one
 * delayed packet would move the estimate by half its delay. A session keeps a window of recent
 * samples (the link's round trip: its smallest; the typical one: its median) and a drift
 * filter (drift-filter.ts) that every sample updates, weighed by how much it queued, so the
 * estimate knows the device clock's drift and extrapolates to any instant.
 */

/** The four times of one exchange, in ms. */
export interface ExchangeTimes {
  t0: number;
  t1: number;
  t2: number;
  t3: number;
}

/** One evaluated sample. */
export interface ClockSampleValue {
  /** The server time the ping arrived (t1): the sample's age is measured from it. */
  serverTimeMs: number;
  rttMs: number;
  offsetMs: number;
}

export interface EstimatorOptions {
  /** The drift filter's settings (default: defaultDriftFilterOptions). */
  drift?: DriftFilterOptions;
  /** How many recent samples a session's window keeps. */
  windowSize: number;
  /** Samples older than this (by server time) leave the window. */
  maxSampleAgeMs: number;
  /** Samples with a longer round trip are rejected as broken or useless. */
  maxRttMs: number;
  /**
   * The resolution of client clocks. A client that reads whole milliseconds can measure a
   * round trip slightly shorter than the server's own holding time; such a sample is kept with
   * a round trip of 0 instead of being rejected as impossible.
   */
  clientResolutionMs: number;
}

export const defaultEstimatorOptions: EstimatorOptions = {
  windowSize: 16,
  maxSampleAgeMs: 120_000,
  maxRttMs: 10_000,
  clientResolutionMs: 1,
};

/** What error_ms and drift_error_ppm cover: this many standard deviations (about p99.7). */
export const ERROR_SIGMAS = 3;

/**
 * Evaluates an exchange; undefined when it cannot be a real measurement: a time that is not
 * finite, the server answering before it received (t2 < t1), a round trip below zero by more
 * than the client clock's resolution, or one longer than maxRttMs.
 */
export function evaluateExchange(times: ExchangeTimes, opts: EstimatorOptions): ClockSampleValue | undefined {
  const { t0, t1, t2, t3 } = times;
  if (![t0, t1, t2, t3].every(Number.isFinite)) return undefined;
  if (t2 < t1) return undefined;
  const rttMs = t3 - t0 - (t2 - t1);
  if (rttMs < -opts.clientResolutionMs || rttMs > opts.maxRttMs) return undefined;
  return { serverTimeMs: t1, rttMs: Math.max(0, rttMs), offsetMs: (t1 - t0 + (t2 - t3)) / 2 };
}

/** The samples of a window still young enough at `nowMs`, newest last, at most windowSize. */
export function freshWindow(samples: readonly ClockSampleValue[], nowMs: number, opts: EstimatorOptions): ClockSampleValue[] {
  const oldest = nowMs - opts.maxSampleAgeMs;
  return samples.filter((s) => s.serverTimeMs >= oldest).slice(-opts.windowSize);
}

/**
 * A session's clock at one instant: the offset there, with what a reader needs to extrapolate
 * it to any other instant T and to know how far to trust it:
 *
 *     offset(T) = offsetMs + driftPpm * 1e-6 * (T - referenceTimeMs)
 *     error(T) <= errorMs + driftErrorPpm * 1e-6 * |T - referenceTimeMs|
 */
export interface ClockEstimateValue {
  /** server time = client time + offset, at referenceTimeMs. */
  offsetMs: number;
  /** The server time the offset is for. */
  referenceTimeMs: number;
  /** How fast the offset grows, ppm of server time (the device's clock runs that much slow). */
  driftPpm: number;
  /** The offset's error at referenceTimeMs, ERROR_SIGMAS standard deviations, ms. */
  errorMs: number;
  /** The drift's error, ERROR_SIGMAS standard deviations, ppm. */
  driftErrorPpm: number;
  /** The smallest round trip of the window: the link's own. */
  rttMs: number;
  /** The median round trip of the window: the session's typical link, robust to spikes. */
  typicalRttMs: number;
  /** Samples in the window. */
  sampleCount: number;
  /** The newest sample's server time (its t1). */
  lastSampleTimeMs: number;
}

/** A session's clock as stored: its window of samples and its drift filter. */
export interface SessionClock {
  window: ClockSampleValue[];
  filter: DriftState;
}

const driftOptions = (opts: EstimatorOptions) => opts.drift ?? defaultDriftFilterOptions;
const minRtt = (samples: readonly ClockSampleValue[]) => samples.reduce((m, s) => Math.min(m, s.rttMs), Infinity);

/**
 * Takes new samples (in the order they were taken) into a session's clock: each joins the
 * window and updates the filter, weighed against the link of the window so far. While the
 * window still holds every sample the filter has taken in (a session's first half minute, or
 * after a restart), the filter is run again over all of them against the window's link as it
 * is now: early samples were judged against a link not yet known, and the first samples are
 * where a session's estimate is weakest. `filter` is undefined for a session's first samples.
 */
export function advanceSession(
  previous: { window: readonly ClockSampleValue[]; filter: DriftState | undefined },
  fresh: readonly ClockSampleValue[],
  opts: EstimatorOptions,
): SessionClock | undefined {
  const o = driftOptions(opts);
  let window = [...previous.window];
  let filter = previous.filter;
  for (const sample of fresh) {
    window = [...window, sample].slice(-opts.windowSize);
    const link = minRtt(window);
    if (!filter || window[0]!.serverTimeMs <= filter.startTimeMs) {
      const taken = filter ? window.filter((s) => s.serverTimeMs >= filter!.startTimeMs) : [sample];
      filter = taken.slice(1).reduce((f, s) => updateFilter(f, s, link, o), startFilter(taken[0]!, link, o));
    } else {
      filter = updateFilter(filter, sample, link, o);
    }
  }
  return filter && { window, filter };
}

/**
 * The estimate at server time `atMs`: the filter extrapolated there, and the window's round
 * trips (of its samples still fresh at `atMs`; the last known ones when none is).
 */
export function estimateAt(session: SessionClock, atMs: number, opts: EstimatorOptions): ClockEstimateValue {
  const { offsetMs, sigmaMs } = offsetAt(session.filter, atMs, driftOptions(opts));
  const fresh = freshWindow(session.window, atMs, opts);
  const window = fresh.length > 0 ? fresh : session.window;
  return {
    offsetMs,
    referenceTimeMs: atMs,
    driftPpm: session.filter.drift * 1e6,
    errorMs: ERROR_SIGMAS * sigmaMs,
    driftErrorPpm: ERROR_SIGMAS * Math.sqrt(session.filter.pDD) * 1e6,
    rttMs: minRtt(window),
    typicalRttMs: median(window.map((s) => s.rttMs)),
    sampleCount: fresh.length,
    lastSampleTimeMs: session.window.length > 0 ? session.window[session.window.length - 1]!.serverTimeMs : session.filter.referenceTimeMs,
  };
}
