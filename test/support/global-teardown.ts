/** Stops the private redis-server of the test run, if one was started. */
export default async function globalTeardown(): Promise<void> {
  await globalThis.__GROOVEBOX_TEST_REDIS__?.stop();
}
