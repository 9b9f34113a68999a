/**
 * The device's own clock, as the SDK reads it: milliseconds with sub-millisecond fraction,
 * monotonic. Inject another one to simulate a device (the sync benchmark gives each simulated
 * device a clock with its own offset and drift) or to control time in tests.
 */
export interface LocalClock {
  now(): number;
}

/**
 * The default: `performance.timeOrigin + performance.now()`, which is monotonic (it does not
 * jump when the system clock is set) and sub-millisecond in Node and in browsers.
 */
export const performanceClock: LocalClock = {
  now: () => performance.timeOrigin + performance.now(),
};
