import { failIfStillRunning } from "./open-handles.ts";

/** How long the run's process may take to exit after the last test; then it fails with its open handles. */
const EXIT_GRACE_MS = 30_000;

/**
 * Stops the private Redis (or cluster) of the test run, if one was started, and removes its
 * files. On a cluster it first checks that the run's rooms and sessions landed on every master:
 * otherwise the cluster run would not have proven much.
 */
export default async function globalTeardown(): Promise<void> {
  failIfStillRunning(EXIT_GRACE_MS);
  const redis = globalThis.__GROOVEBOX_TEST_REDIS__;
  if (redis === undefined) return;
  try {
    const masters = await redis.keysPerMaster?.();
    if (masters !== undefined) {
      process.stdout.write(`Redis Cluster keys per master: ${masters.map((m) => `:${m.port} ${m.keys}`).join(", ")}\n`);
      // A run of only files with clusters of their own stored nothing here: nothing to check.
      const stored = masters.some((m) => m.keys > 0);
      if (stored && (masters.length < 3 || masters.some((m) => m.keys === 0))) {
        throw new Error("the test run did not use every master of the cluster");
      }
    }
  } finally {
    await redis.destroy();
  }
}
