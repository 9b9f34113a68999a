/**
 * The one source of server time. Every timestamp the system hands out is read here, so tests
 * can replace it with a ManualClock and control time exactly.
 */
export interface ClockSource {
  /** Milliseconds since the Unix epoch, with sub-millisecond fraction. */
  now(): number;
}

/**
 * The process clock: performance.timeOrigin + performance.now() is monotonic within the
 * process (it does not jump when the system clock is stepped) and has microsecond resolution.
 */
export const systemClock: ClockSource = {
  now: () => performance.timeOrigin + performance.now(),
};

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
