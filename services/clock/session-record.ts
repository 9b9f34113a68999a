import type { DriftState } from "../../clients/sdk/clock/drift-filter.js";
import type { ClockEstimateValue, ClockSampleValue, RttFloor } from "../../clients/sdk/clock/clock-filter.js";

/**
 * How a session's clock is kept in Redis, beside the seed keys:
 *
 * - `socket:{id}:clock.samples`, a list of "t1,rtt,offset" strings (compact, and readable in
 *   redis-cli): the window.
 * - `socket:{id}:clock.estimate`, a hash: the estimate at the newest sample (offsetMs at
 *   referenceTimeMs, driftPpm, errorMs, driftErrorPpm, rttMs, typicalRttMs, sampleCount,
 *   lastSampleTimeMs), so any reader can extrapolate offset(T), and the drift filter's
 *   covariance and bookkeeping (filter.pOO, filter.pOD, filter.pDD, filter.surprises,
 *   filter.startTimeMs) and the link's round-trip floor (floor.rttMs, floor.timeMs) to go on from,
 *   and the record's version (a random number, new with every write: see sample-store.ts).
 */

export const encodeSample = (s: ClockSampleValue) => `${s.timeMs},${s.rttMs},${s.offsetMs}`;

export function decodeSample(raw: string): ClockSampleValue | undefined {
  const [t1, rtt, offset] = raw.split(",").map(Number);
  if (![t1, rtt, offset].every(Number.isFinite)) return undefined;
  return { timeMs: t1!, rttMs: rtt!, offsetMs: offset! };
}

export const decodeSamples = (raw: readonly string[]) => raw.map(decodeSample).filter((s): s is ClockSampleValue => s !== undefined);

/** The hash of a session's estimate (at the filter's reference time), its filter and its link's floor. */
export function encodeEstimate(estimate: ClockEstimateValue, filter: DriftState, floor: RttFloor): Record<string, number> {
  return {
    ...estimate,
    "filter.pOO": filter.pOO,
    "filter.pOD": filter.pOD,
    "filter.pDD": filter.pDD,
    "filter.surprises": filter.surprises,
    "filter.startTimeMs": filter.startTimeMs,
    "floor.rttMs": floor.rttMs,
    "floor.timeMs": floor.timeMs,
  };
}

/** The version of a stored estimate ("": none yet). */
export const decodeVersion = (hash: Record<string, string>) => hash.version ?? "";

/** The round-trip floor of a stored estimate; undefined when there is none (the next sample sets it). */
export function decodeFloor(hash: Record<string, string>): RttFloor | undefined {
  const floor = { rttMs: Number(hash["floor.rttMs"] ?? NaN), timeMs: Number(hash["floor.timeMs"] ?? NaN) };
  return Number.isFinite(floor.rttMs) && Number.isFinite(floor.timeMs) ? floor : undefined;
}

/** The drift filter of a stored estimate; undefined when there is none or it is unreadable. */
export function decodeFilter(hash: Record<string, string>): DriftState | undefined {
  const n = (field: string) => Number(hash[field] ?? NaN);
  const filter: DriftState = {
    referenceTimeMs: n("referenceTimeMs"),
    offsetMs: n("offsetMs"),
    drift: n("driftPpm") * 1e-6,
    pOO: n("filter.pOO"),
    pOD: n("filter.pOD"),
    pDD: n("filter.pDD"),
    surprises: n("filter.surprises"),
    startTimeMs: n("filter.startTimeMs"),
  };
  return Object.values(filter).every(Number.isFinite) ? filter : undefined;
}
