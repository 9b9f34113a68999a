import { create } from "@bufbuild/protobuf";
import { PlaybackStateSchema, PlaybackStatus, PlaybackSyncSchema } from "../../../gen/groovebox/playback/v1/playback_pb.js";
import { syncBufferMs } from "../../../services/playback/timeline.js";
import { PlaybackFollower, type PlaybackUpdate, type ServerClock } from "./playback-follower.js";

/** A device whose clock reads server time - 1000 ms, drifting +50 ppm against the server. */
const clock: ServerClock = {
  synced: true,
  toServer: (l) => l + 1000 + 50e-6 * l,
  toLocal: (s) => (s - 1000) / (1 + 50e-6),
  estimate: () => ({ driftPpm: 50 }),
};

const playing = (version: number, anchorPositionMs: number, anchorTimeMs: number) =>
  create(PlaybackStateSchema, {
    roomId: "r1",
    status: PlaybackStatus.PLAYING,
    playing: true,
    trackId: "t1",
    anchorPositionMs,
    anchorTimeMs,
    startAtServerTime: anchorTimeMs,
    version: BigInt(version),
  });

describe("PlaybackFollower", () => {
  it("tells the app the local instant to start, output latency taken off", () => {
    const follower = new PlaybackFollower(clock, { outputLatencyMs: 150 });
    const updates: PlaybackUpdate[] = [];
    follower.on("update", (u) => updates.push(u));
    follower.applyState(playing(1, 30_000, 101_000), "started");
    expect(updates).toHaveLength(1);
    const start = updates[0]!.start!;
    expect(start.positionMs).toBe(30_000);
    // Fed at start.localTimeMs, heard 150 ms later, when the server's clock reads 101 000.
    expect(clock.toServer(start.localTimeMs + 150)).toBeCloseTo(101_000, 6);
  });

  it("can schedule a start on time through a 200 ms output latency, since the server's buffer makes room for it", () => {
    const buffer = { rttMultiplier: 2, minBufferMs: 100, maxBufferMs: 500, defaultRttMs: 50, maxOutputLatencyMs: 1000 };
    const commandAt = 500_000;
    /** How long before the device must feed its first sample the start event reaches it (ms, its own clock). */
    const leadMs = (rttMs: number, roomLatencyMs: number) => {
      const follower = new PlaybackFollower(clock, { outputLatencyMs: 200 });
      let start: PlaybackUpdate["start"];
      follower.on("update", (u) => (start = u.start));
      const bufferMs = syncBufferMs({ maxRttMs: rttMs, maxOutputLatencyMs: roomLatencyMs }, buffer);
      follower.applyState(playing(1, 0, commandAt + bufferMs), "started");
      // The event reaches the device half a round trip after the command.
      return start!.localTimeMs - clock.toLocal(commandAt + rttMs / 2);
    };
    // With this device's report (200 ms, Bluetooth) counted in the buffer, every start leaves
    // the device more than the event's own trip to schedule it.
    for (const rttMs of [2, 40, 150, 400]) expect(leadMs(rttMs, 200)).toBeGreaterThan(rttMs / 2);
    // Without it, a fast room's 100 ms buffer tells the device to start 101 ms in the past.
    expect(leadMs(2, 0)).toBeCloseTo(-101, 0);
  });

  it("gives the position to feed at any local instant, compensating output latency", () => {
    const follower = new PlaybackFollower(clock, { outputLatencyMs: 0 });
    follower.applyState(playing(1, 0, 101_000));
    const local = clock.toLocal(111_000);
    expect(follower.positionAt(local)).toBeCloseTo(10_000, 6);
    follower.outputLatencyMs = 200;
    // What is fed now is heard 200 device ms later (200.01 server ms at +50 ppm): that much
    // further into the track.
    expect(follower.positionAt(local)).toBeCloseTo(10_200 + 200 * 50e-6, 6);
    expect(() => (follower.outputLatencyMs = -1)).toThrow(RangeError);
  });

  it("answers corrections in tiers and counts them; the rate includes the clock's drift", () => {
    const follower = new PlaybackFollower(clock);
    follower.applyState(playing(1, 0, 101_000));
    const local = clock.toLocal(120_000);
    const expected = follower.positionAt(local)!;
    expect(follower.correct({ localTimeMs: local, positionMs: expected + 0.3 })).toMatchObject({ tier: "in-sync", rate: 1 + 50e-6 });
    const nudge = follower.correct({ localTimeMs: local, positionMs: expected + 10 });
    expect(nudge.tier).toBe("nudge");
    expect(nudge.rate).toBeLessThan(1);
    const seek = follower.correct({ localTimeMs: local, positionMs: expected - 100 });
    expect(seek).toMatchObject({ tier: "seek", seekToMs: expected });
    expect(follower.counts).toEqual({ "in-sync": 1, nudge: 1, seek: 1 });
    expect(follower.quality.tier).toBe("seek");
  });

  it("ignores states older than the one it holds, and asks for a refetch on a newer sync tick", () => {
    const follower = new PlaybackFollower(clock);
    let stale = 0;
    follower.on("stale", () => stale++);
    follower.applyState(playing(3, 0, 101_000));
    follower.applyState(playing(2, 5000, 90_000));
    expect(follower.timeline!.version).toBe(3);
    follower.applySync(create(PlaybackSyncSchema, { roomId: "r1", trackId: "t1", version: 4n, serverTimestamp: 1, theoreticalPosition: 1 }));
    expect(stale).toBe(1);
  });

  it("re-anchors on a sync tick whose position differs from its own timeline", () => {
    const follower = new PlaybackFollower(clock);
    follower.applyState(playing(3, 0, 101_000));
    follower.applySync(
      create(PlaybackSyncSchema, { roomId: "r1", trackId: "t1", version: 3n, serverTimestamp: 111_000, theoreticalPosition: 10_005 }),
    );
    expect(follower.positionAt(clock.toLocal(121_000))).toBeCloseTo(20_005, 6);
  });

  it("says nothing about position when nothing plays", () => {
    const follower = new PlaybackFollower(clock);
    expect(follower.positionAt(0)).toBeUndefined();
    expect(follower.correct({ localTimeMs: 0, positionMs: 5 })).toEqual({ tier: "in-sync", errorMs: 0, rate: 1 });
    expect(follower.quality.tier).toBe("idle");
  });
});
