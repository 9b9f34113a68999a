/**
 * Reading the host's realtime clock to a microsecond from JavaScript.
 *
 * Node 20 offers the realtime clock only as Date.now(), in whole milliseconds (V8 floors
 * gettimeofday's microseconds), and a monotonic clock with sub-microsecond resolution
 * (performance.now()) whose relation to the realtime clock is fixed once at process start
 * (performance.timeOrigin) and never updated: when the host clock is stepped or corrected
 * afterwards, `timeOrigin + now()` stays where it was.
 *
 * The instant Date.now() changes from n - 1 to n is realtime n.000 ms exactly. Reading the
 * monotonic clock just before and just after the read that first shows n brackets that
 * instant, typically to a fraction of a microsecond (a read costs ~50 ns). The offset
 * `realtime - monotonic` at the tick edge is then known to half the bracket. A bracket is wide
 * only when the thread was descheduled in between (a loaded machine); such readings are
 * rejected, never averaged in.
 */

/** The two clocks of a process, injectable so tests can simulate both. */
export interface TimeSources {
  /** A monotonic clock in ms, sub-microsecond resolution (performance.now()). */
  monotonicMs(): number;
  /** The host's realtime clock in whole ms since the epoch, floored (Date.now()). */
  realtimeMs(): number;
}

export const processTimeSources: TimeSources = {
  monotonicMs: () => performance.now(),
  realtimeMs: () => Date.now(),
};

/** One tick edge caught: realtime = monotonic + offsetMs, known to +- bracketMs / 2. */
export interface TickEdge {
  offsetMs: number;
  /** Width of the monotonic interval the edge lies in; Infinity when it cannot be placed. */
  bracketMs: number;
  /** The monotonic time of the edge. */
  atMonotonicMs: number;
}

/**
 * Spins, reading both clocks, until the realtime clock ticks or the monotonic clock reaches
 * `untilMonotonicMs`; returns the edge, or undefined when none came in time. An edge whose
 * realtime moved by more than one millisecond (a descheduled thread, or a stepped clock)
 * cannot be placed: its bracket is Infinity.
 */
export function catchTickEdge(src: TimeSources, untilMonotonicMs: number): TickEdge | undefined {
  let before = src.monotonicMs();
  const first = src.realtimeMs();
  for (;;) {
    const readStart = src.monotonicMs();
    const realtime = src.realtimeMs();
    const after = src.monotonicMs();
    if (realtime !== first) {
      // The edge lies after the previous realtime read began and before this one ended.
      const placeable = realtime === first + 1;
      return {
        offsetMs: realtime - (before + after) / 2,
        bracketMs: placeable ? after - before : Infinity,
        atMonotonicMs: (before + after) / 2,
      };
    }
    if (after >= untilMonotonicMs) return undefined;
    before = readStart;
  }
}
