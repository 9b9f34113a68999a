import calculateSlot from "cluster-key-slot";
import type { Cluster } from "ioredis";
import { PlaybackChange } from "../gen/groovebox/playback/v1/playback_pb.js";
import { roomKeys } from "../services/common/keys.js";
import { closeRedis, startWhenRedisReady } from "../services/common/redis.js";
import type { LocalRedisCluster } from "../scripts/local-redis-cluster.js";
import { eventually } from "./support/eventually.js";
import { guest, type Guest } from "./support/rooms-client.js";
import { redisServerAvailable, startPrivateRedis, type PrivateRedis } from "./support/redis-server.js";
import { playingRoom, roomTraffic, unexplainedGaps } from "./support/room-traffic.js";
import { startStack, testRedis, type Stack } from "./support/stack.js";

// A cluster of its own to move slots on (in both modes): needs redis-server.
const describeWithRedisServer = redisServerAvailable() ? describe : describe.skip;

/**
 * How often a node has answered commands with these redirections, from INFO errorstats: ASK (go
 * to the new owner) or TRYAGAIN (keys are on both sides: later) while a slot migrates, MOVED
 * (another master serves the slot).
 */
async function redirections(cluster: LocalRedisCluster, port: number, kinds: Array<"ASK" | "TRYAGAIN" | "MOVED">): Promise<number> {
  const stats = await cluster.cli(port, "INFO", "errorstats");
  return kinds.reduce((sum, kind) => sum + Number(new RegExp(`errorstat_${kind}:count=(\\d+)`).exec(stats)?.[1] ?? 0), 0);
}

/** A key in `slot` (a hash tag found by trying). */
function keyInSlot(slot: number): string {
  for (let i = 0; ; i++) if (calculateSlot(`slot-${i}`) === slot) return `{slot-${i}}:key`;
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

  // First, on the cluster as created: each master serves one range of slots.
  it("sends commands for the other slots of a moved slot's range straight to their master", async () => {
    const { master: from } = await cluster.shardOf(keyInSlot(0));
    const [first, last] = from.slots[0]!.split("-").map(Number);
    const middle = Math.floor((first! + last!) / 2);
    const moving = keyInSlot(middle);
    const staying = keyInSlot(middle + 1);
    const to = (await cluster.masters()).find((m) => m.port !== from.port)!;
    const client = testRedis("range", redis.target);
    try {
      await new Promise<void>((resolve) => startWhenRedisReady(client, resolve));
      // Each slot has its own entry in the client's slot map (ioredis shares one per range).
      const slots = (client as Cluster).slots;
      expect(slots[middle]).toEqual(slots[middle + 1]);
      expect(slots[middle]).not.toBe(slots[middle + 1]);
      await Promise.all([client.set(moving, "moves"), client.set(staying, "stays")]);
      await cluster.moveSlot(moving, to.port);
      const before = await redirections(cluster, to.port, ["MOVED"]);
      // The client learns of the move from the old master's MOVED, and it applies to that slot
      // alone: the neighbour's command, sent right after (before the client has read the slot
      // map again), still goes to the old master and is not sent back from the new one.
      expect(await client.get(moving)).toBe("moves");
      expect(await client.get(staying)).toBe("stays");
      expect(await redirections(cluster, to.port, ["MOVED"])).toBe(before);
    } finally {
      await closeRedis(client);
    }
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
          const before = await redirections(cluster, from.port, ["ASK", "TRYAGAIN"]);
          await eventually(async () => ((await redirections(cluster, from.port, ["ASK", "TRYAGAIN"])) > before ? true : undefined), undefined, "a command redirected");
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
