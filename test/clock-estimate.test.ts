import { createClient, Code, type Client } from "@connectrpc/connect";
import { ClockSampleService } from "../gen/groovebox/clock/v1/clock_pb.js";
import { ManualClock } from "../services/common/clock-source.js";
import { newId } from "../services/common/ids.js";
import { sessionKeys } from "../services/common/keys.js";
import { inspectRedis, startStack, type Stack } from "./support/stack.js";
import { bearer, grpcTransport } from "./support/stream-client.js";

/**
 * The clock service's drift-aware estimates, over real HTTP/2 and Redis: a device whose clock
 * runs 80 ppm fast samples for five minutes; the estimate read afterwards, and the keys beside
 * the seed keys, let any reader extrapolate its offset.
 */
describe("clock estimates that know their age and drift", () => {
  const clock = new ManualClock(1_800_000_000_000);
  const start = clock.now();
  const redis = inspectRedis();
  let stack: Stack;
  let client: Client<typeof ClockSampleService>;
  let auth: ReturnType<typeof bearer>;

  beforeAll(async () => {
    stack = await startStack({ clock });
    client = createClient(ClockSampleService, grpcTransport(stack.clockUrl));
    auth = bearer((await stack.tokens.signService("gateway")).token);
  });
  afterAll(async () => {
    await stack.stop();
    redis.disconnect();
  });

  /** The device: 2.5 s behind the server at the start, running 80 ppm fast. */
  const local = (t: number) => t - 2500 + 80e-6 * (t - start);
  const trueOffset = (t: number) => t - local(t);

  /** One exchange of the device at the server's current time, 30 ms each way plus `downQueueMs` on the way back. */
  function sample(sessionId: string, downQueueMs = 0) {
    const s = clock.now() - 30;
    const t1 = clock.now();
    return {
      sessionId,
      roomId: "",
      clientSendTimeMs: local(s),
      serverReceiveTimeMs: t1,
      serverSendTimeMs: t1,
      clientReceiveTimeMs: local(t1 + 30 + downQueueMs),
    };
  }

  it("stores offset, reference time, drift and error bound, and extrapolates them on read", async () => {
    const sessionId = newId();
    for (let i = 0; i < 150; i++) {
      await client.recordSamples({ samples: [sample(sessionId)] }, auth);
      clock.advance(2000);
    }
    const lastSample = clock.now() - 2000;

    // Beside the seed keys: the estimate at the newest sample, with its drift and bound.
    const stored = await redis.hgetall(sessionKeys.clockEstimate(sessionId));
    expect(Number(stored.referenceTimeMs)).toBe(lastSample);
    expect(Number(stored.offsetMs)).toBeCloseTo(trueOffset(lastSample), 1);
    expect(Number(stored.driftPpm)).toBeCloseTo(-80, 0);
    expect(Number(stored.errorMs)).toBeGreaterThan(0);
    expect(Number(stored.driftErrorPpm)).toBeGreaterThan(0);
    // The seed key: the offset extrapolated to the time it was written.
    expect(Number(await redis.get(sessionKeys.clockOffset(sessionId)))).toBeCloseTo(trueOffset(lastSample), 1);

    // Two minutes without samples: the device drifted another 9.6 ms, and the estimate knows.
    clock.advance(120_000);
    const { estimate } = await client.getSessionEstimate({ sessionId }, auth);
    expect(estimate).toMatchObject({ referenceTimeMs: clock.now(), lastSampleTimeMs: lastSample, sampleCount: 0 });
    expect(Math.abs(estimate!.offsetMs - trueOffset(clock.now()))).toBeLessThan(estimate!.errorMs);
    expect(estimate!.errorMs).toBeLessThan(1);
    expect(estimate!.driftPpm).toBeCloseTo(-80, 0);
    expect(estimate!.rttMs).toBeCloseTo(60, 1);
    expect(estimate!.typicalRttMs).toBeCloseTo(60, 1);
  });

  it("keeps the link's round-trip floor between calls: a queue that lasts longer than the window does not move the estimate", async () => {
    const sessionId = newId();
    for (let i = 0; i < 40; i++) {
      await client.recordSamples({ samples: [sample(sessionId)] }, auth);
      clock.advance(2000);
    }
    // Two minutes (60 samples, the window holds 16) of answers queued 70 ms on the way back:
    // each says the offset is 35 ms less.
    for (let i = 0; i < 60; i++) {
      await client.recordSamples({ samples: [sample(sessionId, 70)] }, auth);
      clock.advance(2000);
    }
    const stored = await redis.hgetall(sessionKeys.clockEstimate(sessionId));
    expect(Number(stored["floor.rttMs"])).toBeCloseTo(60, 1);
    const { estimate } = await client.getSessionEstimate({ sessionId }, auth);
    expect(Math.abs(estimate!.offsetMs - trueOffset(clock.now()))).toBeLessThan(Math.min(0.5, estimate!.errorMs));
  });

  it("answers NOT_FOUND for a session without an estimate, and INVALID_ARGUMENT for a bad id", async () => {
    await expect(client.getSessionEstimate({ sessionId: newId() }, auth)).rejects.toMatchObject({ code: Code.NotFound });
    await expect(client.getSessionEstimate({ sessionId: "a{b}" }, auth)).rejects.toMatchObject({ code: Code.InvalidArgument });
  });
});
