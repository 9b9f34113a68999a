import { setTimeout as sleep } from "node:timers/promises";

/** How often, and how far apart, to try again: `firstMs` between the first two calls, doubling up to `maxMs`. */
export interface Backoff {
  firstMs: number;
  maxMs: number;
  /** Calls in all, the first one included. */
  tries: number;
}

/**
 * Calls `fn` until it succeeds, and rethrows its last error once `retryable` says no, the
 * tries are used up, or `signal` aborts (which also cuts a pause short: a service that stops
 * leaves no timer behind). A dozen lines, so no library: cockatiel 3 cannot cut a pause short,
 * and p-retry is an ES module only (Jest runs the services as CommonJS).
 */
export async function retryWithBackoff<T>(
  fn: () => Promise<T>,
  opts: Backoff & { retryable(err: unknown): boolean; signal?: AbortSignal },
): Promise<T> {
  for (let attempt = 1, pauseMs = opts.firstMs; ; attempt++, pauseMs = Math.min(2 * pauseMs, opts.maxMs)) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= opts.tries || !opts.retryable(err) || opts.signal?.aborted) throw err;
      await sleep(pauseMs, undefined, { signal: opts.signal }).catch(() => {
        throw err;
      });
    }
  }
}
