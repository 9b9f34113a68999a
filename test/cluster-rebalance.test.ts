import { PlaybackChange } from "../gen/groovebox/playback/v1/playback_pb.js";
import { roomKeys } from "../services/common/keys.js";
import type { LocalRedisCluster } from "../scripts/local-redis-cluster.js";
import { eventually } from "./support/eventually.js";
import { guest, type Guest } from "./support/rooms-client.js";
import { redisServerAvailable, startPrivateRedis, type PrivateRedis } from "./support/redis-server.js";
import { playingRoom, roomTraffic, unexplainedGaps } from "./support/room-traffic.js";
import { startStack, type Stack } from "./support/stack.js";

// A cluster of its own to move slots on (in both modes): needs redis-server.
const describeWithRedisServer = redisServerAvailable() ? describe : describe.skip;

/**
 * How often a node has answered a command of a migrating slot with ASK (go to the new owner) or
 * TRYAGAIN (keys are on both sides: later), from INFO errorstats.
 */
async function migrationAnswers(cluster: LocalRedisCluster, port: number): Promise<number> {
  const stats = await cluster.cli(port, "INFO", "errorstats");
  const count = (kind: string) => Number(new RegExp(`errorstat_${kind}:count=(\\d+)`).exec(stats)?.[1] ?? 0);
  return count("ASK") + count("TRYAGAIN");
}

/**
 * Slots holding live rooms move to another master while the rooms play, streams are joined on
 * two gateways and DJ commands run, the way an operator rebalances a cluster. Clients see no
 * error: commands are redirected (ASK while the slot migrates, MOVED after) and wait out the
 * migration, and the rooms' streams keep up with their events.
 */
describeWithRedisServer("Redis Cluster: slots move while rooms play", () => {
  let redis: PrivateRedis;
  let cluster: LocalRedisCluster;
  let stack: Stack;
  let ada: Guest;
  let bob: Guest;
  /** Streams and traffic to stop before the stack, also when the test fails half-way. */
  const running: Array<{ stop(): Promise<void> }> = [];

  beforeAll(async () => {
    redis = await startPrivateRedis({ mode: "cluster" });
    cluster = redis.cluster!;
    stack = await startStack({ redis: redis.target, gateways: 2, schedulers: 1, sync: { syncIntervalMs: 500 } });
    [ada, bob] = await Promise.all([guest(stack.gatewayUrls[0]!, "Ada"), guest(stack.gatewayUrls[1]!, "Bob")]);
  });
  afterAll(async () => {
    await Promise.all(running.map((r) => r.stop()));
    await stack?.stop();
    await redis?.destroy();
  });

  it("redirects commands, loses no event and answers no error while the slots of playing rooms move", async () => {
    // Ada (gateway 0) is the DJ, Bob (gateway 1) a member.
    const rooms = [];
    for (let i = 0; i < 3; i++) rooms.push(await playingRoom(ada, bob, (stream) => running.push(stream)));
    const streams = rooms.flatMap((r) => r.streams);
    const traffic = roomTraffic(ada, bob, rooms.map((r) => r.roomId));
    running.push(traffic);
    await Promise.all(rooms.map((r) => traffic.waitFor((o) => o.roomId === r.roomId && o.op === "seek", `traffic in ${r.roomId}`)));

    for (const room of rooms) {
      const key = roomKeys.meta(room.roomId);
      const { master } = await cluster.shardOf(key);
      const target = (await cluster.masters()).find((m) => m.port !== master.port)!;
      await cluster.moveSlot(key, target.port, {
        // Half-way, until a command of the room has been answered ASK or TRYAGAIN, and has
        // waited longer than ioredis's own tries last (8, 50 ms apart).
        async midway(from) {
          const before = await migrationAnswers(cluster, from.port);
          await eventually(async () => ((await migrationAnswers(cluster, from.port)) > before ? true : undefined), undefined, "a command redirected");
          await eventually(async () => (traffic.waiting(room.roomId) > 1000 ? true : undefined), undefined, "a command waiting out the move");
        },
      });
      const movedAt = Date.now();
      expect((await cluster.shardOf(key)).master.port).toBe(target.port);
      // The room's DJ commands go on, now on the new master.
      await traffic.waitFor((o) => o.roomId === room.roomId && o.op === "seek", `a seek in ${room.roomId} after its slot moved`, movedAt);
    }

    // Every stream gets the room's events again after the last move (from its new master).
    const marks = streams.map((s) => s.messages.length);
    await Promise.all(
      streams.map((stream, i) =>
        stream.waitFor((m) => m.message.case === "playbackChanged" && m.message.value.change === PlaybackChange.SEEKED, "a seek's event after the moves", marks[i]),
      ),
    );
    await traffic.stop();
    const quietAt = Date.now();
    await Promise.all(
      streams.map((stream) => stream.waitFor((m) => m.message.case === "playbackSync" && m.message.value.serverTimestamp > quietAt, "a periodic sync after the moves")),
    );

    // No command failed; every acknowledged change is there.
    expect(traffic.outcomes.filter((o) => o.code !== undefined)).toEqual([]);
    for (const room of rooms) {
      const { state } = await ada.playback.getPlayback({ roomId: room.roomId }, ada.auth);
      expect(state!.version).toBeGreaterThanOrEqual(traffic.acked.get(room.roomId)!);
    }
    // No stream missed events without a state to bring it up to date.
    await Promise.all(streams.map((s) => s.stop()));
    for (const stream of streams) expect(unexplainedGaps(stream.messages)).toEqual([]);
  });
});
