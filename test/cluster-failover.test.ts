import { randomBytes } from "node:crypto";
import { Code } from "@connectrpc/connect";
import type { ServerMessage } from "../gen/groovebox/gateway/v1/gateway_pb.js";
import { PlaybackChange } from "../gen/groovebox/playback/v1/playback_pb.js";
import { playbackEndQueuePrefix, roomKeys } from "../services/common/keys.js";
import type { ClusterNodeLine, LocalRedisCluster } from "../scripts/local-redis-cluster.js";
import { guest, type Guest } from "./support/rooms-client.js";
import { redisServerAvailable, startPrivateRedis, type PrivateRedis } from "./support/redis-server.js";
import { playingRoom, roomTraffic, unexplainedGaps, type StreamRecord } from "./support/room-traffic.js";
import { startStack, type Stack } from "./support/stack.js";

// A cluster of its own to kill a master of (in both modes): needs redis-server.
const describeWithRedisServer = redisServerAvailable() ? describe : describe.skip;

/** The periodic playback_sync's interval here: ticks every half second show when they resume. */
const SYNC_INTERVAL_MS = 500;

interface PlayingRoom {
  roomId: string;
  /** The DJ's stream (gateway 0) and a member's stream (gateway 1). */
  streams: StreamRecord[];
}

/**
 * A master of a Redis Cluster killed with SIGKILL while rooms play, streams are joined on two
 * gateways, and DJ commands run. The master holds rooms, the BullMQ queues of track ends and of
 * the periodic sync (whose workers block on it), and its replica is held back from taking over
 * until a command has been seen failing: the gap is observed, not guessed.
 */
describeWithRedisServer("Redis Cluster: a master fails", () => {
  let redis: PrivateRedis;
  let cluster: LocalRedisCluster;
  let stack: Stack;
  let victim: ClusterNodeLine;
  let ada: Guest;
  let bob: Guest;
  /** Streams and traffic to stop before the stack, also when the test fails half-way. */
  const running: Array<{ stop(): Promise<void> }> = [];
  /** A replica held back from taking over, until the test lets it. */
  let held: ClusterNodeLine | undefined;

  beforeAll(async () => {
    redis = await startPrivateRedis({ mode: "cluster", persist: true });
    cluster = redis.cluster!;
    victim = (await cluster.shardOf(`${playbackEndQueuePrefix}:x`)).master;
    stack = await startStack({
      redis: redis.target,
      gateways: 2,
      schedulers: 1,
      sync: {
        syncQueueTag: await tagOn(cluster, victim, "playback-sync"),
        syncIntervalMs: SYNC_INTERVAL_MS,
        // BullMQ makes a room's next tick job as a worker takes the current one; made while the
        // master is down, it fails, and the reconcile gives the room a new one (every 60 s in
        // production).
        syncReconcileIntervalMs: 2000,
      },
    });
    [ada, bob] = await Promise.all([guest(stack.gatewayUrls[0]!, "Ada"), guest(stack.gatewayUrls[1]!, "Bob")]);
  });
  afterAll(async () => {
    await Promise.all(running.map((r) => r.stop()));
    // A test that failed before the failover: services stop on a whole cluster (BullMQ's
    // connections wait forever for a cluster that cannot become ready).
    if (held !== undefined) await cluster.cli(held.port, "CLUSTER", "FAILOVER", "TAKEOVER");
    await stack?.stop();
    await redis?.destroy();
  });

  /** A room Ada created and plays, joined by Ada (gateway 0) and Bob (gateway 1) on streams; is it on the victim? */
  async function playingRoomOnShard(): Promise<PlayingRoom & { onVictim: boolean }> {
    const room = await playingRoom(ada, bob, (stream) => running.push(stream));
    const onVictim = (await cluster.shardOf(roomKeys.meta(room.roomId))).master.id === victim.id;
    return { ...room, onVictim };
  }

  it("answers UNAVAILABLE during the gap, loses nothing acknowledged, and streams, ticks and track ends resume", async () => {
    // Two playing rooms on the master that fails, one elsewhere.
    const onVictim: PlayingRoom[] = [];
    const elsewhere: PlayingRoom[] = [];
    while (onVictim.length < 2 || elsewhere.length < 1) {
      const room = await playingRoomOnShard();
      if (room.onVictim && onVictim.length < 2) onVictim.push(room);
      else if (!room.onVictim && elsewhere.length < 1) elsewhere.push(room);
      else await Promise.all(room.streams.map((s) => s.stop()));
    }
    const rooms = [...onVictim, ...elsewhere];
    const streams = rooms.flatMap((r) => r.streams);
    const replica = (await cluster.shardOf(roomKeys.meta(onVictim[0]!.roomId))).replicas[0]!;
    await cluster.cli(replica.port, "CONFIG", "SET", "cluster-replica-no-failover", "yes");
    held = replica;

    const traffic = roomTraffic(ada, bob, rooms.map((r) => r.roomId));
    running.push(traffic);
    await traffic.waitFor((o) => o.code === undefined && o.roomId === onVictim[0]!.roomId, "traffic");
    // A track that ends a few seconds from now, after the kill: its end job waits on the dead master.
    const ending = await playingRoomOnShard();
    const started = await ada.playback.start({ roomId: ending.roomId, trackId: "short", trackDurationMs: 3000 }, ada.auth);

    const killedAt = Date.now();
    const atKill = streams.map((s) => s.messages.length);
    await cluster.kill(victim.port);
    const failed = await traffic.waitFor((o) => o.code !== undefined && o.roomId === onVictim[0]!.roomId, "a failed command", killedAt);
    expect(failed.code).toBe(Code.Unavailable);
    // The replica takes over now (as it would once cluster-node-timeout passes).
    await cluster.cli(replica.port, "CLUSTER", "FAILOVER", "FORCE");
    held = undefined;
    const releasedAt = Date.now();

    // DJ commands in every room succeed again.
    const recovered = await Promise.all(
      rooms.map((r) => traffic.waitFor((o) => o.code === undefined && o.op === "seek" && o.roomId === r.roomId, `a seek in ${r.roomId} after the failover`, releasedAt)),
    );
    const marks = streams.map((s) => s.messages.length);

    // Every stream of a room on the failed master gets the room's state again (a refetch), then
    // events: DJ commands, and the periodic sync from the scheduler.
    for (const room of onVictim) {
      for (const stream of room.streams) {
        const refetched = (m: ServerMessage) => m.message.case === "roomState" && m.requestId === "";
        await stream.waitFor(refetched, `a refetched state of ${room.roomId}`, atKill[streams.indexOf(stream)]);
      }
    }
    await Promise.all(
      streams.map((stream, i) => stream.waitFor((m) => m.message.case === "playbackChanged", "a DJ command's event after the failover", marks[i])),
    );
    // Ticks come once the seeks stop: a tick before the devices' start instant (each seek sets a
    // new one, a start buffer ahead) is not sent.
    await traffic.stop();
    const quietAt = Date.now();
    await Promise.all(streams.map((stream) => stream.waitFor((m) => isSyncAfter(m, quietAt), "a periodic sync after the failover")));
    // The track's end job was due while its queue's master was down: it ran after the failover.
    const ended = await ending.streams[0]!.waitFor(
      (m) => m.message.case === "playbackChanged" && m.message.value.change === PlaybackChange.ENDED,
      "the track's end",
    );
    expect(started.startAtServerTime + 3000).toBeGreaterThan(killedAt);
    expect(ended.message.case === "playbackChanged" && ended.message.value.state!.serverTimestamp).toBeGreaterThanOrEqual(started.startAtServerTime + 3000);

    // Commands failed only with UNAVAILABLE, and only between the kill and the room's recovery
    // (a room's commands run one after the other).
    const failures = traffic.outcomes.filter((o) => o.code !== undefined);
    expect(failures.map((o) => Code[o.code!])).toEqual(failures.map(() => "Unavailable"));
    expect(failures.filter((o) => o.at < killedAt || o.at > recovered.find((r) => r.roomId === o.roomId)!.at)).toEqual([]);
    // Every acknowledged change is still there.
    for (const room of rooms) {
      const { state } = await ada.playback.getPlayback({ roomId: room.roomId }, ada.auth);
      expect(state!.version).toBeGreaterThanOrEqual(traffic.acked.get(room.roomId)!);
    }
    // No stream missed events without a state to bring it up to date.
    await Promise.all([...streams, ...ending.streams].map((s) => s.stop()));
    for (const stream of [...streams, ...ending.streams]) expect(unexplainedGaps(stream.messages)).toEqual([]);
  });
});

const isSyncAfter = (m: ServerMessage, ms: number) => m.message.case === "playbackSync" && m.message.value.serverTimestamp > ms;

/** A hash tag `<prefix>-<random>` whose slot `master` serves. */
async function tagOn(cluster: LocalRedisCluster, master: ClusterNodeLine, prefix: string): Promise<string> {
  for (;;) {
    const tag = `${prefix}-${randomBytes(4).toString("hex")}`;
    if ((await cluster.shardOf(`{${tag}}`)).master.id === master.id) return tag;
  }
}
