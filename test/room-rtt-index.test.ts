import { createClient, Code, type Client } from "@connectrpc/connect";
import { ClockSampleService } from "../gen/groovebox/clock/v1/clock_pb.js";
import { ManualClock } from "../services/common/clock-source.js";
import { newId } from "../services/common/ids.js";
import { roomKeys } from "../services/common/keys.js";
import { guest, type Guest } from "./support/rooms-client.js";
import { inspectRedis, startStack, type Stack } from "./support/stack.js";
import { bearer, grpcTransport } from "./support/stream-client.js";

const FRESH_MS = 30_000;
const DEFAULT_RTT_MS = 7;

/**
 * The room round-trip index: the clock service writes it beside each session's estimate, the
 * playback service reads it in its own room script when the DJ starts, resumes or seeks. The
 * buffer here is exactly 2 x the room's largest fresh round trip (no clamping), so a Start
 * shows what the index holds.
 */
describe("the room round-trip index", () => {
  const clock = new ManualClock(1_700_000_000_000);
  const redis = inspectRedis();
  let stack: Stack;
  let client: Client<typeof ClockSampleService>;
  let auth: ReturnType<typeof bearer>;
  let ada: Guest;
  let bob: Guest;

  beforeAll(async () => {
    stack = await startStack({
      clock,
      clockStore: { rttFreshMs: FRESH_MS },
      buffer: { minBufferMs: 0, maxBufferMs: 100_000, defaultRttMs: DEFAULT_RTT_MS },
    });
    client = createClient(ClockSampleService, grpcTransport(stack.clockUrl));
    auth = bearer((await stack.tokens.signService("gateway")).token);
    [ada, bob] = await Promise.all([guest(stack.gatewayUrls[0]!, "Ada"), guest(stack.gatewayUrls[0]!, "Bob")]);
  });
  afterAll(async () => {
    await stack.stop();
    redis.disconnect();
  });

  /** A room Ada is the DJ of and Bob is in. */
  async function room(): Promise<string> {
    const state = (await ada.rooms.createRoom({}, ada.auth)).state!;
    await bob.rooms.joinRoom({ roomCode: state.roomCode }, bob.auth);
    return state.roomId;
  }

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

  /** The room's largest fresh round trip as the DJ's Start sees it. */
  const maxRtt = async (roomId: string) => (await ada.playback.start({ roomId, trackId: "t" }, ada.auth)).syncBufferMs / 2;

  it("gives a Start the largest fresh round trip of the room's sessions, and forgets departed ones", async () => {
    const roomId = await room();
    const [s1, s2, s3] = [newId(), newId(), newId()];
    const res = await client.recordSamples(
      { samples: [sample(s1, roomId, 20, 7), sample(s2, roomId, 80), sample(s3, roomId, 50), sample(newId(), newId(), 400)] },
      auth,
    );
    expect(res).toMatchObject({ accepted: 4, rejected: 0 });
    expect(await maxRtt(roomId)).toBe(80);

    const estimate = (await client.getSessionEstimate({ sessionId: s1 }, auth)).estimate!;
    expect(estimate.rttMs).toBeCloseTo(20, 6);
    expect(estimate.offsetMs).toBeCloseTo(7, 6);

    await client.endSession({ sessionId: s2, roomId }, auth);
    expect(await maxRtt(roomId)).toBe(50);
    await expect(client.getSessionEstimate({ sessionId: s2 }, auth)).rejects.toMatchObject({ code: Code.NotFound });

    await client.setSessionRoom({ sessionId: s3, roomId: "", previousRoomId: roomId }, auth);
    expect(await maxRtt(roomId)).toBe(20);
    await client.setSessionRoom({ sessionId: s3, roomId, previousRoomId: "" }, auth);
    expect(await maxRtt(roomId)).toBe(50);
  });

  it("counts only sessions with fresh samples, and resume and seek read it too", async () => {
    const roomId = await room();
    const [old, recent] = [newId(), newId()];
    await client.recordSamples({ samples: [sample(old, roomId, 300)] }, auth);
    clock.advance(FRESH_MS / 2 + 1);
    await client.recordSamples({ samples: [sample(recent, roomId, 40)] }, auth);
    expect(await maxRtt(roomId)).toBe(300);
    clock.advance(FRESH_MS / 2);
    await ada.playback.pause({ roomId }, ada.auth);
    expect((await ada.playback.resume({ roomId }, ada.auth)).state!.syncBufferMs).toBe(80);
    clock.advance(FRESH_MS);
    expect((await ada.playback.seek({ roomId, positionMs: 5000 }, ada.auth)).state!.syncBufferMs).toBe(2 * DEFAULT_RTT_MS);
  });

  it("uses the typical round trip of a session, not one spike", async () => {
    const roomId = await room();
    const s = newId();
    for (const rtt of [30, 32, 900, 31, 29]) {
      await client.recordSamples({ samples: [sample(s, roomId, rtt)] }, auth);
      clock.advance(1000);
    }
    expect(await maxRtt(roomId)).toBeCloseTo(31, 6);
  });

  it("is read only for the room's DJ: a refused command leaves it as it was", async () => {
    const roomId = await room();
    await client.recordSamples({ samples: [sample(newId(), roomId, 60)] }, auth);
    clock.advance(FRESH_MS + 1); // stale now: the DJ's next command drops it
    await expect(bob.playback.start({ roomId, trackId: "mine" }, bob.auth)).rejects.toMatchObject({ code: Code.PermissionDenied });
    expect(await redis.zcard(roomKeys.rtt(roomId))).toBe(1);
    expect(await maxRtt(roomId)).toBe(DEFAULT_RTT_MS);
    expect(await redis.zcard(roomKeys.rtt(roomId))).toBe(0);
  });

  it("rejects impossible samples and bad ids without writing anything", async () => {
    const roomId = await room();
    const bad = { ...sample(newId(), roomId, 10), serverSendTimeMs: clock.now() - 5 }; // t2 before t1
    expect(await client.recordSamples({ samples: [bad] }, auth)).toMatchObject({ accepted: 0, rejected: 1 });
    expect(await redis.exists(roomKeys.rtt(roomId))).toBe(0);
    await expect(client.recordSamples({ samples: [sample("bad{id}", roomId, 10)] }, auth)).rejects.toMatchObject({
      code: Code.InvalidArgument,
    });
  });
});
