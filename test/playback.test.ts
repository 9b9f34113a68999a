import { createClient, Code } from "@connectrpc/connect";
import { ClockSampleService } from "../gen/groovebox/clock/v1/clock_pb.js";
import { ErrorCode } from "../gen/groovebox/gateway/v1/gateway_pb.js";
import { PlaybackChange, PlaybackStatus } from "../gen/groovebox/playback/v1/playback_pb.js";
import { ManualClock } from "../services/common/clock-source.js";
import { roomKeys } from "../services/common/keys.js";
import { eventually, WAIT_MS } from "./support/eventually.js";
import { guest, joinOnStream, type Guest } from "./support/rooms-client.js";
import { inspectRedis, startStack, type Stack } from "./support/stack.js";
import { bearer, grpcTransport } from "./support/stream-client.js";

describe("playback: the room's timeline", () => {
  const clock = new ManualClock(1_900_000_000_000);
  let stack: Stack;
  let ada: Guest; // the DJ, gateway 0
  let bob: Guest; // gateway 0
  let cat: Guest; // gateway 1
  let dan: Guest; // joins mid-song, gateway 1
  const redis = inspectRedis();

  beforeAll(async () => {
    stack = await startStack({ clock, gateways: 2 });
    const [gw0, gw1] = stack.gatewayUrls as [string, string];
    [ada, bob, cat, dan] = await Promise.all([guest(gw0, "Ada"), guest(gw0, "Bob"), guest(gw1, "Cat"), guest(gw1, "Dan")]);
  });
  afterAll(async () => {
    await stack.stop();
    redis.disconnect();
  });

  async function room() {
    const state = (await ada.rooms.createRoom({}, ada.auth)).state!;
    const streams = { ada: await ada.connect(), bob: await bob.connect(), cat: await cat.connect() };
    for (const s of Object.values(streams)) await joinOnStream(s, state.roomCode);
    return { roomId: state.roomId, roomCode: state.roomCode, streams, close: () => Object.values(streams).forEach((s) => s.cancel()) };
  }

  it("starts everyone at the same instant, and a mid-song joiner learns where the song is", async () => {
    const { roomId, roomCode, streams, close } = await room();
    const started = await ada.playback.start({ roomId, trackId: "track-1", positionMs: 30_000 }, ada.auth);
    expect(started).toMatchObject({ trackId: "track-1", positionMs: 30_000, syncBufferMs: 100, version: 1n });
    expect(started.startAtServerTime).toBe(started.serverTimestamp + 100);
    expect(started.state!.currentPosition).toBe(29_900);

    const events = await Promise.all(Object.values(streams).map((s) => s.next("playbackStarted")));
    for (const ev of events) {
      expect(ev.message.value).toMatchObject({
        roomId,
        trackId: "track-1",
        positionMs: 30_000,
        startAtServerTime: started.startAtServerTime,
        syncBufferMs: 100,
        version: 1n,
      });
    }

    clock.advance(100 + 5000); // five seconds into the song
    const joined = (await dan.rooms.joinRoom({ roomCode }, dan.auth)).state!;
    expect(joined.playback).toMatchObject({
      status: PlaybackStatus.PLAYING,
      playing: true,
      trackId: "track-1",
      startAtServerTime: started.startAtServerTime,
      currentPosition: 35_000,
      serverTimestamp: clock.now(),
      version: 1n,
    });
    const read = (await cat.playback.getPlayback({ roomId }, cat.auth)).state!;
    expect(read.currentPosition).toBe(35_000);
    expect(JSON.parse((await redis.get(roomKeys.playback(roomId)))!)).toMatchObject({ trackId: "track-1", version: 1 });
    close();
  });

  it("pauses, resumes and seeks to the expected positions", async () => {
    const { roomId, streams, close } = await room();
    await ada.playback.start({ roomId, trackId: "track-2" }, ada.auth);
    clock.advance(100 + 10_000);
    const paused = (await ada.playback.pause({ roomId }, ada.auth)).state!;
    expect(paused).toMatchObject({ status: PlaybackStatus.PAUSED, playing: false, currentPosition: 10_000, version: 2n });
    clock.advance(60_000); // paused time does not count
    expect((await bob.playback.getPlayback({ roomId }, bob.auth)).state!.currentPosition).toBe(10_000);

    const resumed = (await ada.playback.resume({ roomId }, ada.auth)).state!;
    expect(resumed.startAtServerTime).toBe(clock.now() + 100);
    clock.advance(100 + 2_000);
    expect((await bob.playback.getPlayback({ roomId }, bob.auth)).state!.currentPosition).toBe(12_000);

    const sought = (await ada.playback.seek({ roomId, positionMs: 90_000 }, ada.auth)).state!;
    expect(sought.currentPosition).toBe(89_900); // devices jump there after the buffer
    clock.advance(100 + 1000);
    expect((await bob.playback.getPlayback({ roomId }, bob.auth)).state!.currentPosition).toBe(91_000);

    const stopped = (await ada.playback.stop({ roomId }, ada.auth)).state!;
    expect(stopped).toMatchObject({ status: PlaybackStatus.IDLE, trackId: "", currentPosition: 0, version: 5n });

    // Each event says on its own when devices (re)start; only resume and seek while playing do.
    const changes = [];
    for (let i = 0; i < 4; i++) changes.push((await streams.cat.next("playbackChanged")).message.value);
    expect(changes.map((c) => c.change)).toEqual([PlaybackChange.PAUSED, PlaybackChange.RESUMED, PlaybackChange.SEEKED, PlaybackChange.STOPPED]);
    const [pausedEv, resumedEv, soughtEv, stoppedEv] = changes;
    expect(pausedEv).toMatchObject({ positionMs: 10_000, startAtServerTime: 0, syncBufferMs: 0, serverTimestamp: paused.serverTimestamp, version: 2n });
    expect(resumedEv).toMatchObject({
      positionMs: 10_000,
      startAtServerTime: resumed.startAtServerTime,
      syncBufferMs: 100,
      serverTimestamp: resumed.serverTimestamp,
      version: 3n,
    });
    expect(soughtEv).toMatchObject({
      positionMs: 90_000,
      startAtServerTime: sought.startAtServerTime,
      syncBufferMs: 100,
      serverTimestamp: sought.serverTimestamp,
      version: 4n,
    });
    expect(soughtEv!.startAtServerTime).toBe(sought.serverTimestamp + 100);
    expect(stoppedEv).toMatchObject({ positionMs: 0, startAtServerTime: 0, syncBufferMs: 0, version: 5n });
    close();
  });

  it("announces a seek while paused without a start", async () => {
    const { roomId, streams, close } = await room();
    await ada.playback.start({ roomId, trackId: "track-3" }, ada.auth);
    clock.advance(100 + 3000);
    await ada.playback.pause({ roomId }, ada.auth);
    const sought = (await ada.playback.seek({ roomId, positionMs: 45_000 }, ada.auth)).state!;
    expect(sought).toMatchObject({ status: PlaybackStatus.PAUSED, currentPosition: 45_000 });
    await streams.bob.next("playbackChanged"); // paused
    expect((await streams.bob.next("playbackChanged")).message.value).toMatchObject({
      change: PlaybackChange.SEEKED,
      positionMs: 45_000,
      startAtServerTime: 0,
      syncBufferMs: 0,
      serverTimestamp: sought.serverTimestamp,
      version: 3n,
    });
    close();
  });

  it("sizes the start buffer to the room's slowest link", async () => {
    const { roomId, streams, close } = await room();
    const samples = createClient(ClockSampleService, grpcTransport(stack.clockUrl));
    const auth = bearer((await stack.tokens.signService("gateway")).token);
    const now = clock.now();
    const sample = (sessionId: string, rtt: number) => ({
      sessionId,
      roomId,
      clientSendTimeMs: now - rtt / 2,
      serverReceiveTimeMs: now,
      serverSendTimeMs: now,
      clientReceiveTimeMs: now + rtt / 2,
    });
    await samples.recordSamples({ samples: [sample(streams.bob.sessionId, 40), sample(streams.cat.sessionId, 120)] }, auth);
    expect((await ada.playback.start({ roomId, trackId: "t" }, ada.auth)).syncBufferMs).toBe(240);
    await samples.recordSamples({ samples: [sample(streams.cat.sessionId, 400)] }, auth);
    clock.advance(1); // the window's median for Cat is now (120 + 400) / 2 = 260
    expect((await ada.playback.start({ roomId, trackId: "t" }, ada.auth)).syncBufferMs).toBe(500);
    // Cat leaves the room: Bob's link decides.
    streams.cat.cancel();
    await streams.cat.ended;
    // The gateway detaches Cat's session asynchronously: Start until the buffer follows.
    await eventually(async () => ((await ada.playback.start({ roomId, trackId: "t" }, ada.auth)).syncBufferMs === 100 ? true : undefined), WAIT_MS, "a 100 ms buffer");
    close();
  });

  it("takes commands from the DJ only, and changes nothing otherwise", async () => {
    const { roomId, close } = await room();
    await expect(bob.playback.start({ roomId, trackId: "mine" }, bob.auth)).rejects.toMatchObject({ code: Code.PermissionDenied });
    await expect(dan.playback.getPlayback({ roomId }, dan.auth)).rejects.toMatchObject({ code: Code.PermissionDenied });
    expect((await bob.playback.getPlayback({ roomId }, bob.auth)).state!.version).toBe(0n);
    // After a hand-off, the new DJ commands and the old one is refused.
    await ada.rooms.setDj({ roomId, userId: bob.userId }, ada.auth);
    await bob.playback.start({ roomId, trackId: "mine" }, bob.auth);
    await expect(ada.playback.pause({ roomId }, ada.auth)).rejects.toMatchObject({ code: Code.PermissionDenied });
    expect((await bob.playback.getPlayback({ roomId }, bob.auth)).state).toMatchObject({ trackId: "mine", version: 1n });
    close();
  });

  it("gives racing commands one outcome per version", async () => {
    const { roomId, close } = await room();
    await ada.playback.start({ roomId, trackId: "race" }, ada.auth);
    // Without expected_version every command applies, each on its own version.
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => ada.playback.seek({ roomId, positionMs: i * 1000 }, ada.auth)),
    );
    expect(results.map((r) => Number(r.state!.version)).sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i + 2));
    // With expected_version only one of the racers wins.
    const outcomes = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => ada.playback.seek({ roomId, positionMs: i, expectedVersion: 13n }, ada.auth)),
    );
    const won = outcomes.filter((o) => o.status === "fulfilled");
    expect(won).toHaveLength(1);
    for (const o of outcomes) if (o.status === "rejected") expect(o.reason).toMatchObject({ code: Code.FailedPrecondition });
    expect((await ada.playback.getPlayback({ roomId }, ada.auth)).state!.version).toBe(14n);
    close();
  });

  it("answers bad commands with the right code and keeps the state", async () => {
    const { roomId, close } = await room();
    const bad = async (call: Promise<unknown>, code: Code) => expect(call).rejects.toMatchObject({ code });
    await bad(ada.playback.start({ roomId: "nosuchroom", trackId: "t" }, ada.auth), Code.NotFound);
    await bad(ada.playback.start({ roomId, trackId: "" }, ada.auth), Code.InvalidArgument);
    await bad(ada.playback.start({ roomId, trackId: "t".repeat(257) }, ada.auth), Code.InvalidArgument);
    await bad(ada.playback.start({ roomId, trackId: "t", positionMs: -1 }, ada.auth), Code.InvalidArgument);
    await bad(ada.playback.start({ roomId, trackId: "t", positionMs: Infinity }, ada.auth), Code.InvalidArgument);
    await bad(ada.playback.start({ roomId, trackId: "t", positionMs: 5000, trackDurationMs: 4000 }, ada.auth), Code.InvalidArgument);
    await bad(ada.playback.start({ roomId, trackId: "t", trackDurationMs: 0 }, ada.auth), Code.InvalidArgument);
    await bad(ada.playback.pause({ roomId }, ada.auth), Code.FailedPrecondition);
    await bad(ada.playback.seek({ roomId, positionMs: 10 }, ada.auth), Code.FailedPrecondition);
    await ada.playback.start({ roomId, trackId: "t", trackDurationMs: 60_000 }, ada.auth);
    await bad(ada.playback.resume({ roomId }, ada.auth), Code.FailedPrecondition);
    await bad(ada.playback.seek({ roomId, positionMs: 60_000 }, ada.auth), Code.InvalidArgument);
    await bad(ada.playback.seek({ roomId, positionMs: NaN }, ada.auth), Code.InvalidArgument);
    await bad(ada.playback.pause({ roomId, expectedVersion: 7n }, ada.auth), Code.FailedPrecondition);
    // uint64 beyond 2^53: the error names the number sent, not a rounded double.
    await expect(ada.playback.pause({ roomId, expectedVersion: 2n ** 64n - 1n }, ada.auth)).rejects.toMatchObject({
      code: Code.FailedPrecondition,
      rawMessage: "the timeline is at version 1, not 18446744073709551615",
    });
    expect((await ada.playback.getPlayback({ roomId }, ada.auth)).state).toMatchObject({ version: 1n, playing: true });
    close();
  });

  it("carries commands and their answers on the DJ's stream", async () => {
    const { roomId, streams, close } = await room();
    const answer = await streams.ada.request({
      requestId: "cmd-1",
      message: { case: "playbackCommand", value: { command: { case: "start", value: { trackId: "via-stream" } } } },
    });
    expect(answer.message).toMatchObject({ case: "playbackState", value: { roomId, trackId: "via-stream", version: 1n } });
    expect((await streams.bob.next("playbackStarted")).message.value.trackId).toBe("via-stream");
    const refused = await streams.bob.request({
      requestId: "cmd-2",
      message: { case: "playbackCommand", value: { command: { case: "pause", value: {} } } },
    });
    expect(refused.message).toMatchObject({ case: "error", value: { code: ErrorCode.PERMISSION_DENIED } });
    close();
  });
});

describe("playback: a track with a known duration", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack.stop());

  it("ends at its duration: the room becomes idle and members are told", async () => {
    const gw = stack.gatewayUrls[0]!;
    const ada = await guest(gw, "Ada");
    const { roomId, roomCode } = (await ada.rooms.createRoom({}, ada.auth)).state!;
    const stream = await ada.connect();
    await joinOnStream(stream, roomCode);
    const started = await ada.playback.start({ roomId, trackId: "short", positionMs: 1000, trackDurationMs: 1400 }, ada.auth);
    const ended = await stream.next("playbackChanged");
    expect(ended.message.value).toMatchObject({ change: PlaybackChange.ENDED, state: { status: PlaybackStatus.IDLE, version: 2n } });
    expect(ended.message.value.state!.serverTimestamp).toBeGreaterThanOrEqual(started.startAtServerTime + 400);
    expect((await ada.playback.getPlayback({ roomId }, ada.auth)).state).toMatchObject({ status: PlaybackStatus.IDLE, version: 2n });
    stream.cancel();
  });

  it("does not end a track that was paused before its end", async () => {
    const gw = stack.gatewayUrls[0]!;
    const ada = await guest(gw, "Ada");
    const { roomId } = (await ada.rooms.createRoom({}, ada.auth)).state!;
    await ada.playback.start({ roomId, trackId: "short", trackDurationMs: 600 }, ada.auth);
    await ada.playback.pause({ roomId }, ada.auth);
    await ada.playback.start({ roomId, trackId: "long", trackDurationMs: 600_000 }, ada.auth);
    // The first track's end timer was removed with its version; only the new track plays.
    expect((await ada.playback.getPlayback({ roomId }, ada.auth)).state).toMatchObject({ trackId: "long", version: 3n, playing: true });
  });
});
