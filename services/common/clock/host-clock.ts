import type { ClockSource } from "../clock-source.js";
import { median } from "../stats.js";
import { createSlewedOffset, defaultSlewOptions, type Correction, type SlewOptions } from "./slewed-offset.js";
import { catchTickEdge, processTimeSources, type TickEdge, type TimeSources } from "./tick-edge.js";

/**
 * The one server time of a process: the host's system clock (disciplined by NTP/chrony in
 * production), read with sub-millisecond resolution.
 *
 * Reads cost one performance.now(): the monotonic clock plus an offset to the realtime clock.
 * The offset is measured at tick edges of Date.now() (see tick-edge.ts), first at construction
 * (blocking for a few ms, before the process serves anything) and then every
 * `reanchorIntervalMs`, cooperatively: the spin waiting for an edge runs in slices of at most
 * `sliceMs`, with the event loop free in between, so pings and events are not held up. A new
 * measurement is applied by slewing (or stepping, when the host clock was stepped), so time
 * never goes backwards within the process except after a step.
 */
export interface HostClockOptions {
  sources: TimeSources;
  /** How often the offset is measured again. */
  reanchorIntervalMs: number;
  /** Good tick edges per measurement; their median is the measurement. */
  edgesPerAnchor: number;
  /** An edge bracketed wider than this (a descheduled thread) is not used. */
  maxBracketMs: number;
  /** The longest the event loop is held by one slice of the cooperative spin. */
  sliceMs: number;
  /** How many edges one measurement may try before it gives up until the next interval. */
  maxEdgeAttempts: number;
  slew: SlewOptions;
  /** Timers, injectable for tests. */
  timers: {
    later(fn: () => void, ms: number): { cancel(): void };
    soon(fn: () => void): void;
  };
  /** Told about every measurement (for metrics and logs). */
  onAnchor?: (report: AnchorReport) => void;
}

export interface AnchorReport {
  /** The measured offset differed from the one in use by this much, ms. */
  correction?: Correction;
  /** Half the spread of the edges used (ms); undefined when the measurement failed. */
  uncertaintyMs?: number;
  edgesUsed: number;
  edgesTried: number;
}

export interface HostClock extends ClockSource {
  /** Stops re-anchoring (the clock keeps working with its last offset). */
  stop(): void;
  /** Measures now (joining a measurement in progress); resolves with its report. */
  reanchor(): Promise<AnchorReport>;
}

export const nodeTimers: HostClockOptions["timers"] = {
  later(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
  soon(fn) {
    setImmediate(fn).unref();
  },
};

export const defaultHostClockOptions: HostClockOptions = {
  sources: processTimeSources,
  reanchorIntervalMs: 10_000,
  edgesPerAnchor: 5,
  maxBracketMs: 0.01,
  sliceMs: 0.05,
  maxEdgeAttempts: 50,
  slew: defaultSlewOptions,
  timers: nodeTimers,
};

/** The median offset of the good edges, and half their spread. */
function summarizeEdges(edges: readonly TickEdge[]): { offsetMs: number; uncertaintyMs: number } {
  const offsets = edges.map((e) => e.offsetMs);
  return { offsetMs: median(offsets), uncertaintyMs: (Math.max(...offsets) - Math.min(...offsets)) / 2 };
}

interface Measurement {
  good: TickEdge[];
  tried: number;
}

/** Catches good edges by blocking (used once, at construction, before anything is served). */
function measureBlocking(o: HostClockOptions): Measurement {
  const good: TickEdge[] = [];
  let tried = 0;
  while (tried < o.maxEdgeAttempts && good.length < o.edgesPerAnchor) {
    tried++;
    const edge = catchTickEdge(o.sources, o.sources.monotonicMs() + 2);
    if (edge && edge.bracketMs <= o.maxBracketMs) good.push(edge);
  }
  return { good, tried };
}

/** The report of a measurement, and its offset when it found any good edge. */
function report(m: Measurement): AnchorReport & { offsetMs?: number } {
  if (m.good.length === 0) return { edgesUsed: 0, edgesTried: m.tried };
  return { ...summarizeEdges(m.good), edgesUsed: m.good.length, edgesTried: m.tried };
}

export function createHostClock(options: Partial<HostClockOptions> = {}): HostClock {
  const o: HostClockOptions = { ...defaultHostClockOptions, ...options };
  const src = o.sources;
  const first = report(measureBlocking(o));
  // Without a single good edge (a machine too loaded to read two clocks in a row), start from
  // the middle of the realtime clock's millisecond and let the periodic measurement refine it.
  const offset = createSlewedOffset(first.offsetMs ?? src.realtimeMs() + 0.5 - src.monotonicMs(), o.slew);
  let last = -Infinity;
  let stopped = false;
  let nextAnchor: { cancel(): void } | undefined;

  function now(): number {
    const mono = src.monotonicMs();
    // Rounding of the sum may be a fraction of a microsecond below the previous read while
    // slewing; never hand out an earlier time.
    const t = Math.max(last, mono + offset.at(mono));
    last = t;
    return t;
  }

  /** Those waiting for the measurement in progress; undefined when none runs. */
  let waiting: Array<(report: AnchorReport) => void> | undefined;

  function finish(m: Measurement): void {
    const { offsetMs, ...r } = report(m);
    let result: AnchorReport = r;
    if (offsetMs !== undefined) {
      const correction = offset.correct(offsetMs, src.monotonicMs());
      if (correction.stepped) last = -Infinity;
      result = { ...r, correction };
    }
    const done = waiting ?? [];
    waiting = undefined;
    o.onAnchor?.(result);
    for (const fn of done) fn(result);
  }

  /**
   * Catches up to edgesPerAnchor good edges, one slice at a time, then corrects the offset.
   * Each slice spins at most sliceMs and starts afresh, so an edge that falls between two
   * slices is missed, never misplaced. Callbacks rather than promises: a slice runs as soon as
   * the event loop allows, and so does the correction.
   */
  function measure(done: (report: AnchorReport) => void): void {
    if (waiting) return void waiting.push(done);
    waiting = [done];
    const m: Measurement = { good: [], tried: 0 };
    const slice = () => {
      if (stopped) return finish(m);
      const edge = catchTickEdge(src, src.monotonicMs() + o.sliceMs);
      if (edge) {
        m.tried++;
        if (edge.bracketMs <= o.maxBracketMs) m.good.push(edge);
        if (m.good.length >= o.edgesPerAnchor || m.tried >= o.maxEdgeAttempts) return finish(m);
      }
      o.timers.soon(slice);
    };
    slice();
  }

  function schedule(): void {
    if (stopped) return;
    nextAnchor = o.timers.later(() => measure(schedule), o.reanchorIntervalMs);
  }

  o.onAnchor?.({ uncertaintyMs: first.uncertaintyMs, edgesUsed: first.edgesUsed, edgesTried: first.edgesTried });
  schedule();

  return {
    now,
    reanchor: () => new Promise((resolve) => measure(resolve)),
    stop() {
      // A measurement in progress ends at its next slice.
      stopped = true;
      nextAnchor?.cancel();
    },
  };
}
