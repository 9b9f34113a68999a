import { median } from "../common/stats.js";

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
 * directions unequal, so the sample with the smallest round trip in a recent window carries
 * the least offset error (the minimum-RTT filter of NTP's clock filter). The last sample is
 * not used as such: one delayed packet would move the estimate by half its delay.
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

/** The chosen estimate of a session's clock. */
export interface ClockEstimateValue {
  offsetMs: number;
  rttMs: number;
  /** The median round trip of the window: the session's typical link, robust to spikes. */
  typicalRttMs: number;
  sampleCount: number;
  /** The chosen sample's server time. */
  sampleTimeMs: number;
  /** The newest sample's server time. */
  lastSampleTimeMs: number;
}

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
 * The estimate from a window at `nowMs`: the fresh sample with the smallest round trip (the
 * newest of equals). Undefined when no sample is fresh.
 */
export function estimateClock(
  samples: readonly ClockSampleValue[],
  nowMs: number,
  opts: EstimatorOptions,
): ClockEstimateValue | undefined {
  const window = freshWindow(samples, nowMs, opts);
  if (window.length === 0) return undefined;
  let best = window[0]!;
  for (const s of window) if (s.rttMs <= best.rttMs) best = s;
  return {
    offsetMs: best.offsetMs,
    rttMs: best.rttMs,
    typicalRttMs: median(window.map((s) => s.rttMs)),
    sampleCount: window.length,
    sampleTimeMs: best.serverTimeMs,
    lastSampleTimeMs: window[window.length - 1]!.serverTimeMs,
  };
}
