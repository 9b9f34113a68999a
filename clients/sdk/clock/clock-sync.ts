import { Emitter } from "../emitter.js";
import {
  advanceClockFilter,
  defaultClockFilterOptions,
  estimateAt,
  evaluateExchange,
  type ClockFilterOptions,
  type ClockFilterState,
  type ExchangeTimes,
} from "./clock-filter.js";
import { ClockModel, DEFAULT_STEP_OPTIONS, type StepOptions } from "./clock-model.js";
import type { LocalClock } from "./local-clock.js";

/**
 * One ping: sent at t0 (device clock); resolves with the exchange: the server's stamps, t3 (the
 * device time the answer arrived), and t0 again, or both device stamps as the transport took
 * them closer to the wire (a browser's network stack: see session/network-stamps.ts).
 */
export type Pinger = (t0: number) => Promise<ExchangeTimes>;

/** When to ping, and how to filter. Defaults: DEFAULT_CLOCK_SYNC_OPTIONS. */
export interface ClockSyncOptions extends StepOptions {
  filter: ClockFilterOptions;
  /** Pings sent right after connecting, so the clock is usable within a second. */
  burstCount: number;
  /** Spacing of the burst's pings (ms). */
  burstIntervalMs: number;
  /** Spacing of the pings after the burst while the filter is young (ms). */
  settleIntervalMs: number;
  /** How long after the filter's first sample (or its restart) pings come every settleIntervalMs (ms). */
  settleForMs: number;
  /** Spacing of the pings after that (ms). */
  intervalMs: number;
  /** The clock counts as synchronised after this many samples (the burst's first answers). */
  samplesToSync: number;
  /** A ping unanswered for this long is forgotten (ms). */
  pingTimeoutMs: number;
}

export const DEFAULT_CLOCK_SYNC_OPTIONS: ClockSyncOptions = {
  ...DEFAULT_STEP_OPTIONS,
  filter: defaultClockFilterOptions,
  burstCount: 8,
  burstIntervalMs: 40,
  // The estimate is as good as the number of clean samples it rests on, and the first minute
  // after connecting is when an app starts to play: about 7 pings a second for it (under the
  // gateway's 10 a second per stream), then 1.
  settleIntervalMs: 150,
  settleForMs: 60_000,
  intervalMs: 1000,
  samplesToSync: 4,
  pingTimeoutMs: 5000,
};

/** What the SDK knows of the server's clock, at one instant. */
export interface ClockEstimate {
  /** server time = device time + offsetMs, now. */
  offsetMs: number;
  /** How much faster the server's clock runs than the device's (ppm). */
  driftPpm: number;
  /** The smallest round trip among the samples the estimate rests on (ms). */
  rttMs: number;
  /**
   * The estimate's uncertainty now (ms): the filter's (3 sigma), grown by the drift's
   * uncertainty over the time since the samples, or more where the samples' hard limits reach
   * further (see sample-limits.ts), and any correction still being slewed in. A constant path
   * asymmetry is not in it (no client can see one): it is at most rttMs / 2, so
   * errorBoundMs + rttMs / 2 bounds the error.
   */
  errorBoundMs: number;
  /** Samples in the filter's window. */
  sampleCount: number;
}

export interface ClockSyncEvents {
  /** The estimate changed (after each sample). */
  change(estimate: ClockEstimate): void;
  /** The first estimate is ready. */
  synced(estimate: ClockEstimate): void;
  /** A valid sample was added (for diagnostics and comparisons). */
  sample(sample: ExchangeTimes): void;
}

/**
 * The device's view of the server's clock: pings (a burst at connect, then periodic ones,
 * faster while the filter is young)
 * feed the clock filter (the same one the clock service runs, on the device's time axis),
 * whose estimate is published with bounded steps. Works with any pinger: pings on the
 * Connect stream, or unary ClockService/Ping.
 */
export class ClockSync extends Emitter<ClockSyncEvents> {
  private readonly opts: ClockSyncOptions;
  private state: ClockFilterState | undefined;
  private readonly model: ClockModel;
  private pinger: Pinger | undefined;
  private timers: Array<ReturnType<typeof setTimeout>> = [];
  private next: ReturnType<typeof setTimeout> | undefined;
  private syncedWaiters: Array<() => void> = [];
  /** Pings awaiting their answer: cancelling one stops waiting for it. */
  private readonly inFlight = new Set<() => void>();
  private announcedSync = false;

  constructor(
    readonly localClock: LocalClock,
    opts: Partial<ClockSyncOptions> = {},
  ) {
    super();
    this.opts = { ...DEFAULT_CLOCK_SYNC_OPTIONS, ...opts, filter: { ...defaultClockFilterOptions, ...opts.filter } };
    this.model = new ClockModel(this.opts);
  }

  /**
   * Starts pinging with `pinger` (again after a reconnect: a new burst, same filter, since
   * neither clock changed).
   */
  start(pinger: Pinger): void {
    this.stop();
    this.pinger = pinger;
    for (let i = 0; i < this.opts.burstCount; i++) {
      this.timers.push(setTimeout(() => this.pingOnce(pinger), i * this.opts.burstIntervalMs));
    }
    const periodic = () => {
      this.next = setTimeout(() => {
        this.pingOnce(pinger);
        periodic();
      }, this.periodMs());
    };
    periodic();
  }

  /** The spacing of periodic pings now: settleIntervalMs while the filter is young (or has none yet). */
  private periodMs(): number {
    const age = this.state === undefined ? 0 : this.localClock.now() - this.state.filter.startTimeMs;
    return age < this.opts.settleForMs ? this.opts.settleIntervalMs : this.opts.intervalMs;
  }

  /** Stops pinging (the estimate stays and keeps extrapolating with its drift). */
  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    clearTimeout(this.next);
    this.next = undefined;
    this.pinger = undefined;
    for (const cancel of this.inFlight) cancel();
  }

  /** Adds a sample measured elsewhere (also what each ping does). */
  addSample(sample: ExchangeTimes): void {
    const value = evaluateExchange(sample, this.opts.filter, "device");
    if (value === undefined) return;
    this.state = advanceClockFilter(this.state ?? { window: [], filter: undefined }, [value], this.opts.filter);
    this.emit("sample", sample);
    const now = this.localClock.now();
    // Until the first burst is in, each better sample may move the estimate either way at
    // once: nothing relies on it yet. After that, steps are bounded.
    const settling = this.state!.window.length < this.opts.burstCount;
    this.model.update(estimateAt(this.state!, now, this.opts.filter), now, settling);
    if (!this.synced) return;
    const estimate = this.estimate()!;
    if (!this.announcedSync) {
      this.announcedSync = true;
      for (const w of this.syncedWaiters.splice(0)) w();
      this.emit("synced", estimate);
    }
    this.emit("change", estimate);
  }

  private pingOnce(pinger: Pinger): void {
    const t0 = this.localClock.now();
    let cancel!: () => void;
    const gaveUp = new Promise<undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), this.opts.pingTimeoutMs);
      cancel = () => {
        clearTimeout(timer);
        resolve(undefined);
      };
    });
    this.inFlight.add(cancel);
    Promise.race([pinger(t0), gaveUp])
      .then((answer) => {
        if (answer !== undefined && this.pinger === pinger) this.addSample(answer);
      })
      .catch(() => {
        // A lost ping is just a missing sample; the connection's own handling reports failures.
      })
      .finally(() => {
        cancel();
        this.inFlight.delete(cancel);
      });
  }

  /** True once the estimate rests on samplesToSync samples. */
  get synced(): boolean {
    return (this.state?.window.length ?? 0) >= this.opts.samplesToSync;
  }

  /** Resolves when the clock is synchronised. */
  whenSynced(): Promise<void> {
    return this.synced ? Promise.resolve() : new Promise((resolve) => this.syncedWaiters.push(resolve));
  }

  /** The server's clock now (epoch ms). Throws before the first estimate. */
  serverNow(): number {
    return this.model.serverAt(this.localClock.now());
  }

  /** Server time at device time `localMs`. */
  toServer(localMs: number): number {
    return this.model.serverAt(localMs);
  }

  /** Device time at which the server's clock reads `serverMs`. */
  toLocal(serverMs: number): number {
    return this.model.localAt(serverMs);
  }

  /** The estimate now; undefined until synchronised. */
  estimate(): ClockEstimate | undefined {
    if (this.state === undefined || !this.synced) return undefined;
    const now = this.localClock.now();
    const filtered = estimateAt(this.state, now, this.opts.filter);
    return {
      offsetMs: this.model.serverAt(now) - now,
      driftPpm: filtered.driftPpm,
      rttMs: filtered.rttMs,
      errorBoundMs: filtered.errorMs + this.model.pendingSlewMs(now),
      sampleCount: filtered.sampleCount,
    };
  }
}
