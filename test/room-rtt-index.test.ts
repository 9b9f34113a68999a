import { createClient, Code, type Client } from "@connectrpc/connect";
import { ClockSampleService } from "../gen/groovebox/clock/v1/clock_pb.js";
import { ManualClock } from "../services/common/clock-source.js";
import { newId } from "../services/common/ids.js";
import { startStack, type Stack } from "./support/stack.js";
import { bearer, grpcTransport } from "./support/stream-client.js";

const FRESH_MS = 30_000;

describe("the room round-trip index of the clock service", () => {
  const clock = new ManualClock(1_700_000_000_000);
  let stack: Stack;
  let client: Client<typeof ClockSampleService>;
  let auth: ReturnType<typeof bearer>;

  beforeAll(async () => {
    stack = await startStack({ clock, clockStore: { rttFreshMs: FRESH_MS } });
    client = createClient(ClockSampleService, grpcTransport(stack.clockUrl));
    auth = bearer((await stack.tokens.signService("gateway")).token);
  });
  afterAll(() => stack.stop());

  /** A symmetric exchange at the current server time with the given round trip and offset. */
  function sample(sessionId: string, roomId: string, rttMs: number, offsetMs = 0) {
    const t1 = clock.now();
    return {
      sessionId,
      roomId,
      clientSendTimeMs: t1 - offsetMs - rttMs / 2,
      serverReceiveTimeMs: t1,
      serverSendTimeMs: t1,
      clientReceiveTimeMs: t1 - offsetMs + rttMs / 2,
    };
  }
  const maxRtt = (roomId: string) => client.getRoomMaxRtt({ roomId }, auth);

  it("returns the largest fresh round trip of the room's sessions, and forgets departed ones", async () => {
    const room = newId();
    const [s1, s2, s3] = [newId(), newId(), newId()];
    const res = await client.recordSamples(
      { samples: [sample(s1, room, 20, 7), sample(s2, room, 80), sample(s3, room, 50), sample(newId(), newId(), 400)] },
      auth,
    );
    expect(res).toMatchObject({ accepted: 4, rejected: 0 });
    expect(await maxRtt(room)).toMatchObject({ maxRttMs: 80, sessionCount: 3 });

    const estimate = (await client.getSessionEstimate({ sessionId: s1 }, auth)).estimate!;
    expect(estimate.rttMs).toBeCloseTo(20, 6);
    expect(estimate.offsetMs).toBeCloseTo(7, 6);

    await client.endSession({ sessionId: s2, roomId: room }, auth);
    expect(await maxRtt(room)).toMatchObject({ maxRttMs: 50, sessionCount: 2 });
    await expect(client.getSessionEstimate({ sessionId: s2 }, auth)).rejects.toMatchObject({ code: Code.NotFound });

    await client.setSessionRoom({ sessionId: s3, roomId: "", previousRoomId: room }, auth);
    expect(await maxRtt(room)).toMatchObject({ maxRttMs: 20, sessionCount: 1 });
    await client.setSessionRoom({ sessionId: s3, roomId: room, previousRoomId: "" }, auth);
    expect(await maxRtt(room)).toMatchObject({ maxRttMs: 50, sessionCount: 2 });
  });

  it("counts only sessions with fresh samples", async () => {
    const room = newId();
    const [old, recent] = [newId(), newId()];
    await client.recordSamples({ samples: [sample(old, room, 300)] }, auth);
    clock.advance(FRESH_MS / 2 + 1);
    await client.recordSamples({ samples: [sample(recent, room, 40)] }, auth);
    expect(await maxRtt(room)).toMatchObject({ maxRttMs: 300, sessionCount: 2 });
    clock.advance(FRESH_MS / 2);
    expect(await maxRtt(room)).toMatchObject({ maxRttMs: 40, sessionCount: 1 });
    clock.advance(FRESH_MS);
    expect(await maxRtt(room)).toMatchObject({ maxRttMs: 0, sessionCount: 0 });
  });

  it("uses the typical round trip of a session, not one spike", async () => {
    const room = newId();
    const s = newId();
    for (const rtt of [30, 32, 900, 31, 29]) {
      await client.recordSamples({ samples: [sample(s, room, rtt)] }, auth);
      clock.advance(1000);
    }
    expect((await maxRtt(room)).maxRttMs).toBeCloseTo(31, 6);
  });

  it("rejects impossible samples and bad ids without writing anything", async () => {
    const room = newId();
    const bad = { ...sample(newId(), room, 10), serverSendTimeMs: clock.now() - 5 }; // t2 before t1
    expect(await client.recordSamples({ samples: [bad] }, auth)).toMatchObject({ accepted: 0, rejected: 1 });
    expect(await maxRtt(room)).toMatchObject({ sessionCount: 0 });
    await expect(client.recordSamples({ samples: [sample("bad{id}", room, 10)] }, auth)).rejects.toMatchObject({
      code: Code.InvalidArgument,
    });
    await expect(maxRtt("")).rejects.toMatchObject({ code: Code.InvalidArgument });
  });
});
