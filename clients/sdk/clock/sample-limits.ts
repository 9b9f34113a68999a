/**
 * What samples prove, whatever their delays: NTP's hard limit. The client sent at or after t0
 * and received at or before t3, the server received at or before t1 and sent at or after t2,
 * and a message takes no negative time either way, so the true offset lies in [t2 - t3, t1 - t0]:
 * within half the round trip of the sample's offset (and the client clock's resolution):
 *
 *     offset - rtt / 2 <= true offset <= offset + rtt / 2
 *
 * Queueing, one-sided or not, a path's asymmetry, a stamp taken late by a busy thread: each
 * only widens the round trip, never moves the truth out of it. The filter's estimate is a
 * statistical one, weighing samples by how much they queued against a floor it learns; when
 * that floor is wrong (every sample it has seen was queued the same way) its estimate and its
 * error bound are wrong together. The limits are what catches that: a sample whose limits
 * exclude the filter proves it wrong, and the estimate never leaves the limits of the samples it
 * rests on (see clock-filter.ts).
 */
import type { DriftSample } from "./drift-filter.js";

/** The offset's hard limits at one instant (ms). */
export interface OffsetLimits {
  lowMs: number;
  highMs: number;
}

/** How the limits of a sample carry to another instant: along the filter's drift, widened by its uncertainty. */
export interface LimitDrift {
  /** d offset / d time (1e-6 = 1 ppm). */
  drift: number;
  /** How far the true drift may be from it (same unit). */
  driftError: number;
  /** A client clock's resolution: its stamps may be off by this much (ms). */
  resolutionMs: number;
}

/** One sample's limits, carried to `atMs`. */
export function sampleLimits(sample: DriftSample, atMs: number, d: LimitDrift): OffsetLimits {
  const dt = atMs - sample.timeMs;
  const half = sample.rttMs / 2 + d.resolutionMs + d.driftError * Math.abs(dt);
  const center = sample.offsetMs + d.drift * dt;
  return { lowMs: center - half, highMs: center + half };
}

/**
 * What all of `samples` prove together at `atMs`: the intersection of their limits. Undefined
 * without samples, or when the limits do not meet (they cannot, for samples of one clock with
 * honest stamps: a clock that was stepped between them, or a drift beyond its uncertainty).
 */
export function limitsAt(samples: readonly DriftSample[], atMs: number, d: LimitDrift): OffsetLimits | undefined {
  if (samples.length === 0) return undefined;
  let lowMs = -Infinity;
  let highMs = Infinity;
  for (const s of samples) {
    const l = sampleLimits(s, atMs, d);
    lowMs = Math.max(lowMs, l.lowMs);
    highMs = Math.min(highMs, l.highMs);
  }
  return lowMs <= highMs ? { lowMs, highMs } : undefined;
}
