import type { HostClockOptions } from "../../services/common/clock/host-clock.js";
import type { TimeSources } from "../../services/common/clock/tick-edge.js";

/**
 * A simulated host for clock tests: true time advances only by reads (each costs readCostMs,
 * like a real clock read) and by timers firing. The monotonic clock is true time plus a base;
 * the realtime clock is true time plus another base, floored to whole ms as Date.now() is, and
 * can be stepped. Timers run in order of their due time when the test calls run().
 */
export class SimulatedHost {
  /** True time, ms (arbitrary origin). */
  t = 0;
  readCostMs = 0.00005;
  /** When set, the read after this many more reads is descheduled for `descheduleMs`. */
  private descheduleIn: number | undefined;
  private descheduleMs = 0;
  private readonly tasks: Array<{ at: number; seq: number; fn: () => void; cancelled: boolean }> = [];
  private seq = 0;
  /** The longest time a single timer callback ran (ms of true time). */
  longestCallbackMs = 0;

  constructor(
    public monotonicBaseMs = 5_000,
    public realtimeBaseMs = 1_800_000_000_000.3456,
    /** The gap between two setImmediate callbacks (an event loop turn). */
    public loopTurnMs = 0.004,
  ) {}

  /** The realtime clock's exact (unfloored) value now. */
  trueRealtime(): number {
    return this.t + this.realtimeBaseMs;
  }

  /** Steps the host's realtime clock (as settimeofday or a VM resume would). */
  stepRealtime(deltaMs: number): void {
    this.realtimeBaseMs += deltaMs;
  }

  /** The thread is descheduled for `ms` right after `reads` more clock reads. */
  descheduleAfter(reads: number, ms: number): void {
    this.descheduleIn = reads;
    this.descheduleMs = ms;
  }

  private read(): void {
    this.t += this.readCostMs;
    if (this.descheduleIn !== undefined && this.descheduleIn-- <= 0) {
      this.t += this.descheduleMs;
      this.descheduleIn = undefined;
    }
  }

  readonly sources: TimeSources = {
    monotonicMs: () => {
      this.read();
      return this.t + this.monotonicBaseMs;
    },
    realtimeMs: () => {
      this.read();
      return Math.floor(this.t + this.realtimeBaseMs);
    },
  };

  private add(at: number, fn: () => void) {
    const task = { at, seq: this.seq++, fn, cancelled: false };
    this.tasks.push(task);
    return task;
  }

  readonly timers: HostClockOptions["timers"] = {
    later: (fn, ms) => {
      const task = this.add(this.t + ms, fn);
      return { cancel: () => void (task.cancelled = true) };
    },
    soon: (fn) => void this.add(this.t + this.loopTurnMs, fn),
  };

  /** Timers still due to run. */
  get pendingTimers(): number {
    return this.tasks.filter((t) => !t.cancelled).length;
  }

  /** Runs timers in order until none is due before `untilMs` (true time), then sets t there. */
  run(untilMs = Infinity): void {
    for (;;) {
      this.tasks.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const i = this.tasks.findIndex((t) => !t.cancelled);
      const next = i < 0 ? undefined : this.tasks[i];
      this.tasks.splice(0, i < 0 ? this.tasks.length : i);
      if (!next || next.at > untilMs) break;
      this.tasks.shift();
      this.t = Math.max(this.t, next.at);
      const start = this.t;
      next.fn();
      this.longestCallbackMs = Math.max(this.longestCallbackMs, this.t - start);
    }
    if (untilMs !== Infinity) this.t = Math.max(this.t, untilMs);
  }

  /** Advances true time by `ms`, running the timers due meanwhile. */
  advance(ms: number): void {
    this.run(this.t + ms);
  }
}
