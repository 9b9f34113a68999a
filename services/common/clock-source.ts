/**
 * The one source of server time. Every timestamp the system hands out is read through a
 * ClockSource: in a service process the host clock (clock/host-clock.ts: the host's system
 * clock, read with sub-millisecond resolution), in tests a ManualClock, so tests control time
 * exactly.
 */
export interface ClockSource {
  /** Milliseconds since the Unix epoch, with sub-millisecond fraction. */
  now(): number;
}

/** A clock that moves only when told to. */
export class ManualClock implements ClockSource {
  constructor(private current = 1_700_000_000_000) {}

  now(): number {
    return this.current;
  }

  /** Moves time forward by `ms`. */
  advance(ms: number): void {
    this.current += ms;
  }

  /** Sets time to `ms` since the epoch. */
  set(ms: number): void {
    this.current = ms;
  }
}
