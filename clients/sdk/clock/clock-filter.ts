import { median } from "../../../services/common/stats.js";
import {
  defaultDriftFilterOptions,
  offsetAt,
  startFilter,
  updateFilter,
  type DriftFilterOptions,
  type DriftState,
} from "./drift-filter.js";
import { limitsAt, sampleLimits, type LimitDrift } from "./sample-limits.js";

/**
 * The clock filter, as pure functions: the one estimator of a clock's offset and drift, run by
 * the clock service (for every session, state kept in Redis) and by the SDK (for the device's
 * own view of the server's clock).
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
 * delayed packet would move the estimate by half its delay. The filter keeps a window of recent
 * samples (what the link does now: its smallest and its median round trip), the link's round
 * trip floor (the lowest round trip seen, rising slowly: see RttFloor) and a drift filter
 * (drift-filter.ts) that every sample updates, weighed by how far above the floor it queued,
 * so the estimate knows the clock's drift and extrapolates to any instant.
 *
 * Each keeper puts samples on its own time axis: the server at t1 (its clock), a device at
 * the midpoint of t0 and t3 (its clock). Drift is per that axis; the two differ by the drift
 * itself (1e-4 of it), far below anything measurable.
 *
 * What no filter can see: a path whose two directions differ by a constant `a` gives every
 * sample the same offset error a/2. The error bound is statistical and does not include it;
 * the round trip bounds it (|a|/2 <= rtt/2).
 *
 * What every sample proves, however it queued (sample-limits.ts): the truth lies within half
 * its round trip of its offset. The filter is held to that twice. A sample whose limits
 * exclude the filter's prediction (beyond the prediction's own uncertainty) proves the filter
 * wrong, and it starts over from that sample at once: a filter that took in only queued
 * samples (a device whose every answer waited for its busy main thread, from the start) was
 * sure of an offset many ms off, and the first clean samples, judged surprises, were skipped
 * until three had come. And the estimate stays within the limits of the samples it rests on,
 * with an error bound that, with half their smallest round trip, covers the whole of them: so
 * errorMs + rttMs / 2 bounds the error even when the filter's weighing is wrong.
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
  /** When the sample was taken, on its keeper's axis (see evaluateExchange): its age is measured from it. */
  timeMs: number;
  rttMs: number;
  offsetMs: number;
}

export interface ClockFilterOptions {
  /** The drift filter's settings (default: defaultDriftFilterOptions). */
  drift?: DriftFilterOptions;
  /** How many recent samples the window keeps. */
  windowSize: number;
  /** Samples older than this (on the keeper's axis) leave the window. */
  maxSampleAgeMs: number;
  /** Samples with a longer round trip are rejected as broken or useless. */
  maxRttMs: number;
  /**
   * The resolution of client clocks. A client that reads whole milliseconds can measure a
   * round trip slightly shorter than the server's own holding time; such a sample is kept with
   * a round trip of 0 instead of being rejected as impossible.
   */
  clientResolutionMs: number;
  /**
   * How fast the round-trip floor rises when no sample comes in under it, ms per second of
   * the keeper's time (default DEFAULT_FLOOR_RISE_MS_PER_S).
   */
  floorRiseMsPerS?: number;
}

/**
 * The floor rises 0.1 ms a second: a stall or a download's queue of tens of ms stays queue
 * (judged as such) for minutes, while a route that really got longer is taken as the link
 * after its difference / 0.1 ms seconds (a 10 ms longer route: under 2 minutes).
 */
export const DEFAULT_FLOOR_RISE_MS_PER_S = 0.1;

export const defaultClockFilterOptions: ClockFilterOptions = {
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
 * than the client clock's resolution, or one longer than maxRttMs. `axis` says whose clock the
 * sample's time is read on: the server's (t1) or the device's (midway between t0 and t3).
 */
export function evaluateExchange(times: ExchangeTimes, opts: ClockFilterOptions, axis: "server" | "device" = "server"): ClockSampleValue | undefined {
  const { t0, t1, t2, t3 } = times;
  if (![t0, t1, t2, t3].every(Number.isFinite)) return undefined;
  if (t2 < t1) return undefined;
  const rttMs = t3 - t0 - (t2 - t1);
  if (rttMs < -opts.clientResolutionMs || rttMs > opts.maxRttMs) return undefined;
  const timeMs = axis === "server" ? t1 : (t0 + t3) / 2;
  return { timeMs, rttMs: Math.max(0, rttMs), offsetMs: (t1 - t0 + (t2 - t3)) / 2 };
}

/** The samples of a window still young enough at `nowMs`, newest last, at most windowSize. */
export function freshWindow(samples: readonly ClockSampleValue[], nowMs: number, opts: ClockFilterOptions): ClockSampleValue[] {
  const oldest = nowMs - opts.maxSampleAgeMs;
  return samples.filter((s) => s.timeMs >= oldest).slice(-opts.windowSize);
}

/**
 * A clock at one instant: the offset there, with what a reader needs to extrapolate
 * it to any other instant T and to know how far to trust it:
 *
 *     offset(T) = offsetMs + driftPpm * 1e-6 * (T - referenceTimeMs)
 *     error(T) <= errorMs + driftErrorPpm * 1e-6 * |T - referenceTimeMs|
 */
export interface ClockEstimateValue {
  /** server time = client time + offset, at referenceTimeMs. */
  offsetMs: number;
  /** The instant the offset is for (on the keeper's axis: server time in the clock service). */
  referenceTimeMs: number;
  /** How fast the offset grows, ppm (the device's clock runs that much slow). */
  driftPpm: number;
  /**
   * The offset's error at referenceTimeMs, ERROR_SIGMAS standard deviations, ms; more where the
   * samples' limits reach further from the offset than rttMs / 2 (so that errorMs + rttMs / 2
   * covers them: see estimateAt).
   */
  errorMs: number;
  /** The drift's error, ERROR_SIGMAS standard deviations, ppm. */
  driftErrorPpm: number;
  /** The smallest round trip of the samples the estimate rests on: the link's own. */
  rttMs: number;
  /** The median round trip of the window: the typical link, robust to spikes. */
  typicalRttMs: number;
  /** Samples in the window. */
  sampleCount: number;
  /** The newest sample's time (on the server: its t1). */
  lastSampleTimeMs: number;
}

/**
 * The link's round-trip floor: the lowest round trip seen (rttMs, by the sample taken at
 * timeMs), which rises slowly from there (floorAt). Samples are judged against it (or the
 * window's smallest, where that is lower), not against the window alone: after a stall of more
 * than a window's worth of samples (a link that queued for a minute, a device whose event loop
 * stalled) the window holds only queued samples, and judged against themselves they would look
 * clean, outvote the filter and restart it tens of ms off. The rise lets a route that really
 * got longer become the link after a while.
 */
export interface RttFloor {
  rttMs: number;
  timeMs: number;
}

/** The filter's state (what the clock service stores per session): its window of samples, the link's floor and its drift filter. */
export interface ClockFilterState {
  window: ClockSampleValue[];
  floor: RttFloor;
  filter: DriftState;
}

const driftOptions = (opts: ClockFilterOptions) => opts.drift ?? defaultDriftFilterOptions;
const minRtt = (samples: readonly ClockSampleValue[]) => samples.reduce((m, s) => Math.min(m, s.rttMs), Infinity);

/** The floor at `atMs`: risen by floorRiseMsPerS since the sample that set it (never lowered by time going back). */
export function floorAt(floor: RttFloor, atMs: number, opts: ClockFilterOptions): number {
  return floor.rttMs + ((opts.floorRiseMsPerS ?? DEFAULT_FLOOR_RISE_MS_PER_S) * Math.max(0, atMs - floor.timeMs)) / 1000;
}

/** How a filter's samples' limits carry over time: along its drift, widened by the drift's error. */
function limitDrift(filter: DriftState, opts: ClockFilterOptions): LimitDrift {
  return { drift: filter.drift, driftError: ERROR_SIGMAS * Math.sqrt(filter.pDD), resolutionMs: opts.clientResolutionMs };
}

/**
 * Takes one sample into the filter: from scratch when the sample's limits exclude the filter's
 * prediction by more than the prediction's own uncertainty (the filter is wrong, whatever it
 * believed), else as the drift filter weighs it.
 */
function takeSample(filter: DriftState, sample: ClockSampleValue, linkRttMs: number, opts: ClockFilterOptions): DriftState {
  const o = driftOptions(opts);
  const predicted = offsetAt(filter, sample.timeMs, o);
  const limits = sampleLimits(sample, sample.timeMs, limitDrift(filter, opts));
  const margin = ERROR_SIGMAS * predicted.sigmaMs;
  const contradicted = predicted.offsetMs + margin < limits.lowMs || predicted.offsetMs - margin > limits.highMs;
  return contradicted ? startFilter(sample, linkRttMs, o) : updateFilter(filter, sample, linkRttMs, o);
}

/** The floor after `sample`: the sample, when it came in at or under the floor as risen by then. */
function lowerFloor(floor: RttFloor | undefined, sample: ClockSampleValue, opts: ClockFilterOptions): RttFloor {
  return floor === undefined || sample.rttMs <= floorAt(floor, sample.timeMs, opts) ? { rttMs: sample.rttMs, timeMs: sample.timeMs } : floor;
}

/**
 * Takes new samples (in the order they were taken) into the filter: each joins the window,
 * may lower the floor, and updates the filter, weighed against the floor at its time. While
 * the window still holds every sample the filter has taken in (the first window's worth, or
 * after a restart), the filter is run again over all of them against the floor as it is now:
 * early samples were judged against a link not yet known, and the first samples are where an
 * estimate is weakest. `filter` and `floor` are undefined before the first sample (`floor` also
 * in a state stored without one: the next sample sets it).
 */
export function advanceClockFilter(
  previous: { window: readonly ClockSampleValue[]; filter: DriftState | undefined; floor?: RttFloor },
  fresh: readonly ClockSampleValue[],
  opts: ClockFilterOptions,
): ClockFilterState | undefined {
  const o = driftOptions(opts);
  let window = [...previous.window];
  let filter = previous.filter;
  let floor = previous.floor;
  for (const sample of fresh) {
    window = [...window, sample].slice(-opts.windowSize);
    floor = lowerFloor(floor, sample, opts);
    // The floor's rise is for samples long gone: within the window its lowest sample stands.
    const link = Math.min(minRtt(window), floorAt(floor, sample.timeMs, opts));
    if (!filter || window[0]!.timeMs <= filter.startTimeMs) {
      const taken = filter ? window.filter((s) => s.timeMs >= filter!.startTimeMs) : [sample];
      filter = taken.slice(1).reduce((f, s) => takeSample(f, s, link, opts), startFilter(taken[0]!, link, o));
    } else {
      filter = takeSample(filter, sample, link, opts);
    }
  }
  return filter && floor && { window, floor, filter };
}

/**
 * The estimate at `atMs` (on the samples' axis): the filter extrapolated there, kept within the
 * limits of the samples it rests on (the window's since the filter started: a restart may have
 * been a clock that was stepped), with an error bound that, with half the smallest round trip
 * among them, covers those limits (sample-limits.ts); and the window's round trips. Samples are
 * those still fresh at `atMs` (the last known ones when none is).
 */
export function estimateAt(state: Pick<ClockFilterState, "window" | "filter">, atMs: number, opts: ClockFilterOptions): ClockEstimateValue {
  const filtered = offsetAt(state.filter, atMs, driftOptions(opts));
  const fresh = freshWindow(state.window, atMs, opts);
  const window = fresh.length > 0 ? fresh : state.window;
  const sinceStart = window.filter((s) => s.timeMs >= state.filter.startTimeMs);
  const inUse = sinceStart.length > 0 ? sinceStart : window;
  const rttMs = minRtt(inUse);
  const limits = limitsAt(inUse, atMs, limitDrift(state.filter, opts));
  const offsetMs = limits ? Math.min(limits.highMs, Math.max(limits.lowMs, filtered.offsetMs)) : filtered.offsetMs;
  // The limits' far end, less what rttMs / 2 (a path's asymmetry) already allows for, and less
  // the client clock's resolution they are widened by: reading a clock that is finer than that
  // (a performance clock), no more is needed; a coarser one's rounding, averaged over many
  // samples, is the sample noise the filter's own bound has.
  const beyondRttMs = limits ? Math.max(offsetMs - limits.lowMs, limits.highMs - offsetMs) - opts.clientResolutionMs - rttMs / 2 : 0;
  return {
    offsetMs,
    referenceTimeMs: atMs,
    driftPpm: state.filter.drift * 1e6,
    errorMs: Math.max(ERROR_SIGMAS * filtered.sigmaMs, beyondRttMs),
    driftErrorPpm: ERROR_SIGMAS * Math.sqrt(state.filter.pDD) * 1e6,
    rttMs,
    typicalRttMs: median(window.map((s) => s.rttMs)),
    sampleCount: fresh.length,
    lastSampleTimeMs: state.window.length > 0 ? state.window[state.window.length - 1]!.timeMs : state.filter.referenceTimeMs,
  };
}
