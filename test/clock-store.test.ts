import { defaultClockFilterOptions } from "../clients/sdk/clock/clock-filter.js";
import { createSampleStore, type SampleStoreOptions } from "../services/clock/sample-store.js";
import { newId } from "../services/common/ids.js";
import { roomKeys, sessionKeys } from "../services/common/keys.js";
import { closeRedis, isRedisReady } from "../services/common/redis.js";
import { eventually, WAIT_MS } from "./support/eventually.js";
import { testRedis } from "./support/stack.js";

const FRESH_MS = 30_000;
const options: SampleStoreOptions = {
  ...defaultClockFilterOptions,
  sessionTtlMs: 300_000,
  rttFreshMs: FRESH_MS,
  sessionCacheSize: 100,
  rttIndexStepMs: 1,
  rttIndexStepRatio: 0.1,
};

/**
 * The clock service's storage against a real Redis, with several stores as several clock
 * processes would have them: each keeps the sessions it wrote between their samples, and
 * the record in Redis stays the one a single store reading it every time would write.
 */
describe("the clock sample store", () => {
  const redis = testRedis("clock-store-test");
  // A cluster client queues nothing before it knows the slots, as in the services.
  beforeAll(() => eventually(async () => (isRedisReady(redis) ? true : undefined), WAIT_MS, "the test's Redis connected"));
  afterAll(() => closeRedis(redis));

  /** An exchange at server time t1 with this round trip, the device `offsetMs` behind, queued `upMs` more on the way in. */
  const exchange = (t1: number, rttMs: number, offsetMs = 250, upMs = 0) => ({
    t0: t1 - offsetMs - rttMs / 2 - upMs,
    t1,
    t2: t1,
    t3: t1 - offsetMs + rttMs / 2,
  });

  /** What a session's record holds, less its version (a random number per write). */
  async function record(sessionId: string) {
    const { version, ...estimate } = await redis.hgetall(sessionKeys.clockEstimate(sessionId));
    return {
      estimate,
      samples: await redis.lrange(sessionKeys.clockSamples(sessionId), 0, -1),
      offset: await redis.get(sessionKeys.clockOffset(sessionId)),
      lastRtt: await redis.get(sessionKeys.lastRtt(sessionId)),
    };
  }

  it("writes, from any mix of clock processes, the record one process reading it every time writes", async () => {
    const [a, b] = [createSampleStore(redis, options), createSampleStore(redis, options)];
    const reference = createSampleStore(redis, { ...options, sessionCacheSize: 0 });
    const [mixed, single] = [newId(), newId()];
    const writers = [a, a, b, a, b, b, a, a, a, b];
    let t = 1_800_000_000_000;
    for (const [i, writer] of writers.entries()) {
      const times = [exchange(t, 20 + (i % 3), 250, i % 4 === 0 ? 7 : 0)];
      await writer.record({ sessionId: mixed, roomId: "", exchanges: times }, t + 5);
      await reference.record({ sessionId: single, roomId: "", exchanges: times }, t + 5);
      t += 500;
    }
    const [got, expected] = [await record(mixed), await record(single)];
    expect(got.samples).toHaveLength(writers.length);
    expect(got).toEqual(expected);
    expect(await redis.hget(sessionKeys.clockEstimate(mixed), "version")).toMatch(/^[1-9]\d*$/);
  });

  it("starts a session over when its record ended under another process, as for a new session", async () => {
    const [a, b] = [createSampleStore(redis, options), createSampleStore(redis, options)];
    const reference = createSampleStore(redis, { ...options, sessionCacheSize: 0 });
    const [session, fresh] = [newId(), newId()];
    const t = 1_800_000_000_000;
    await a.record({ sessionId: session, roomId: "", exchanges: [exchange(t, 20), exchange(t + 500, 21)] }, t + 600);
    await b.endSession(session, "");
    await a.record({ sessionId: session, roomId: "", exchanges: [exchange(t + 1000, 40, -90)] }, t + 1100);
    await reference.record({ sessionId: fresh, roomId: "", exchanges: [exchange(t + 1000, 40, -90)] }, t + 1100);
    expect(await record(session)).toEqual(await record(fresh));
  });

  it("does not take a record started over by another process, after as many writes, for the one it wrote", async () => {
    const [a, b] = [createSampleStore(redis, options), createSampleStore(redis, options)];
    const reference = createSampleStore(redis, { ...options, sessionCacheSize: 0 });
    const [session, fresh] = [newId(), newId()];
    const t = 1_800_000_000_000;
    // One write each way: a count of writes would be the same, and a's old state would pass.
    await a.record({ sessionId: session, roomId: "", exchanges: [exchange(t, 20)] }, t + 100);
    await b.endSession(session, "");
    for (const [store, id] of [[b, session], [reference, fresh]] as const) {
      await store.record({ sessionId: id, roomId: "", exchanges: [exchange(t + 1000, 40, -90)] }, t + 1100);
    }
    for (const [store, id] of [[a, session], [reference, fresh]] as const) {
      await store.record({ sessionId: id, roomId: "", exchanges: [exchange(t + 1500, 41, -90)] }, t + 1600);
    }
    expect(await record(session)).toEqual(await record(fresh));
  });

  it("records a call of more samples than the window holds, keeping the newest", async () => {
    const store = createSampleStore(redis, options);
    const sessionId = newId();
    const t = 1_800_000_000_000;
    // Far more than a script call can take as arguments at once.
    const exchanges = Array.from({ length: 10_000 }, (_, i) => exchange(t + i * 10, 20 + (i % 5)));
    await expect(store.record({ sessionId, roomId: "", exchanges }, t + 100_000)).resolves.toBe(exchanges.length);
    const { samples } = await record(sessionId);
    expect(samples).toHaveLength(options.windowSize);
    expect(samples.at(-1)).toMatch(new RegExp(`^${t + 9_999 * 10},`));
  });

  it("rewrites a room index entry when the round trip moved by more than its step, or when the entry grows old", async () => {
    const store = createSampleStore(redis, options);
    const [sessionId, roomId] = [newId(), newId()];
    const indexed = async () => ({
      rtt: Number(await redis.zscore(roomKeys.rtt(roomId), sessionId)),
      seen: Number(await redis.zscore(roomKeys.rttSeen(roomId), sessionId)),
    });
    const t0 = 1_800_000_000_000;
    let t = t0;
    const sample = async (rttMs: number) => {
      await store.record({ sessionId, roomId, exchanges: [exchange(t, rttMs)] }, t);
      t += 1000;
    };
    await sample(40);
    expect(await indexed()).toEqual({ rtt: 40, seen: t0 });
    // The typical (median) round trip moves to 41, then 42: within max(1 ms, 10%), left as it is.
    await sample(42);
    await sample(42);
    await sample(60);
    await sample(60);
    expect(await indexed()).toEqual({ rtt: 40, seen: t0 });
    // [40, 42, 42, 60, 60, 60]: 51, past 44, rewritten; then 60, past 51 + 5.1.
    await sample(60);
    expect(await indexed()).toEqual({ rtt: 51, seen: t0 + 5000 });
    await sample(60);
    expect(await indexed()).toEqual({ rtt: 60, seen: t0 + 6000 });
    // Steady round trips: rewritten once the entry is a quarter of the freshness (7.5 s) old.
    while (t < t0 + 14_000) await sample(60);
    expect(await indexed()).toEqual({ rtt: 60, seen: t0 + 6000 });
    await sample(60);
    expect(await indexed()).toEqual({ rtt: 60, seen: t0 + 14_000 });
  });
});
