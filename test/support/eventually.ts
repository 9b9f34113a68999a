/**
 * Polls `check` until it returns a value that is not undefined (or stops throwing), for
 * conditions another process reaches asynchronously; fails after `timeoutMs`.
 */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 5000, what = "condition"): Promise<T> {
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
