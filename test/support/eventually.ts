/**
 * How long a test waits for something that should happen (a message, a state another process
 * reaches): a safety net for when it never does, not a timing assertion. Long, because on a
 * loaded 2-core machine the services, the test's clients and other work share the CPU and a
 * step that takes milliseconds alone can take seconds. Jest's test timeout is longer still.
 */
export const WAIT_MS = 30_000;

/**
 * Polls `check` until it returns a value that is not undefined (or stops throwing), for
 * conditions another process reaches asynchronously; fails after `timeoutMs`.
 */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = WAIT_MS, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms${last ? `: ${String(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
