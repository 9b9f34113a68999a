/** Reconnect timing. Defaults: DEFAULT_BACKOFF. */
export interface BackoffOptions {
  /** The first retry waits about this long (ms). */
  initialMs: number;
  /** Retries never wait longer than this (ms). */
  maxMs: number;
  /** Each failed attempt multiplies the wait by this. */
  factor: number;
  /** A connection that lasted this long counts as good: the next failure starts over (ms). */
  stableAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 250, maxMs: 10_000, factor: 2, stableAfterMs: 5000 };

/**
 * Exponential backoff with "equal jitter": the n-th retry waits between half and all of
 * min(maxMs, initialMs * factor^n), at random, so a room full of devices that lost the
 * same server do not all come back in the same millisecond, and none retries in a tight loop.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly opts: BackoffOptions = DEFAULT_BACKOFF,
    private readonly random: () => number = Math.random,
  ) {}

  /** How long to wait before the next attempt (ms); counts the attempt. */
  next(): number {
    const ceiling = Math.min(this.opts.maxMs, this.opts.initialMs * this.opts.factor ** this.attempt);
    this.attempt++;
    return ceiling / 2 + this.random() * (ceiling / 2);
  }

  /** Attempts made since the last good connection. */
  get attempts(): number {
    return this.attempt;
  }

  /** A connection that lived `livedMs` ended: if it was stable, start over. */
  connectionEnded(livedMs: number): void {
    if (livedMs >= this.opts.stableAfterMs) this.attempt = 0;
  }
}
