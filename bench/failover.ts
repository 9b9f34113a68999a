/**
 * npm run bench:failover -- [--repeat=3] [--interval-ms=500] [--command-every-ms=100]
 *
 * How long a Redis Cluster failover interrupts the rooms on the master that fails. The services
 * run as processes (2 gateways, a scheduler) on a private cluster of 3 masters and 3 replicas
 * (cluster-node-timeout 2 s, no replica held back: the failover happens by itself). Two rooms
 * play on the master that also holds the periodic sync's queue; each has a stream on each
 * gateway. Through each gateway the DJ seeks in the first room every --command-every-ms; the
 * second is left to its ticks (every --interval-ms). Then the master is killed with SIGKILL,
 * and, per gateway, from the kill:
 *   - firstCommandMs: the first seek sent after the kill that succeeds;
 *   - firstEventMs: the first room event published after the kill that reaches a stream there
 *     (a seek's playback_changed, or a tick);
 *   - firstTickMs: the first periodic sync after the kill on the second room's stream there;
 *   - firstRefetchMs: the first room state the gateway sends unasked (it read the room again
 *     once its subscription was back);
 *   - failedCommands: the seeks that failed meanwhile, by code.
 * promotedMs is when the replica took over (CLUSTER NODES, polled every 50 ms). The killed node
 * is then started again (it comes back as a replica) and the next round kills the new master of
 * the same rooms. Results: bench/results/failover.json.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { cpus, loadavg } from "node:os";
import type { ServerMessage } from "../gen/groovebox/gateway/v1/gateway_pb.js";
import { PlaybackService } from "../gen/groovebox/playback/v1/playback_pb.js";
import { RoomService } from "../gen/groovebox/room/v1/room_pb.js";
import { roomKeys, syncQueueKeys } from "../services/common/keys.js";
import { parseClusterNodes, type LocalRedisCluster } from "../scripts/local-redis-cluster.js";
import { intArgs, loginGuests, now, round, runBench, sleep, startBenchStack, writeResults } from "./harness.js";
import { LeanStream, leanConnection } from "./lean-client.js";

const opts = intArgs({ repeat: 3, "interval-ms": 500, "command-every-ms": 100 });
/** How long a round waits for everything to come back before it reports what did not. */
const ROUND_LIMIT_MS = 30_000;

/** A message received on a stream, and when (now(), ms). */
interface Received {
  at: number;
  room: number;
  msg: ServerMessage;
}

/** A seek through a gateway: when it was sent and answered, and its error code if it failed. */
interface Seek {
  sentAt: number;
  answeredAt: number;
  code?: Code;
}

/** What one gateway saw in one round, ms from the kill (undefined: not within the round). */
interface GatewayRecovery {
  firstCommandMs?: number;
  firstEventMs?: number;
  firstTickMs?: number;
  firstRefetchMs?: number;
  failedCommands: Record<string, number>;
}

interface Round {
  killedPort: number;
  promotedMs: number;
  gateways: GatewayRecovery[];
}

/** Smallest, median and largest of the rounds' values; how many rounds never got there. */
function spread(values: Array<number | undefined>) {
  const seen = values.filter((v): v is number => v !== undefined).sort((a, b) => a - b);
  return { min: seen[0], median: seen[Math.floor(seen.length / 2)], max: seen.at(-1), missing: values.length - seen.length };
}

/** The server time a room event was published at, for the events that carry it. */
function publishedAt(msg: ServerMessage): number | undefined {
  const m = msg.message;
  if (m.case === "playbackSync") return m.value.serverTimestamp;
  if (m.case === "playbackChanged") return m.value.state?.serverTimestamp;
  return undefined;
}

/** Opens a Connect stream on a gateway and joins a room; resolves once the join is answered. */
function joinedStream(gatewayUrl: string, token: string, roomCode: string, onMessage: (msg: ServerMessage) => void): Promise<LeanStream> {
  return new Promise((resolve, reject) => {
    const stream: LeanStream = new LeanStream(leanConnection(gatewayUrl), "Connect", token, (msg) => {
      if (msg.requestId === "join") {
        if (msg.message.case === "roomState") resolve(stream);
        else reject(new Error(`join failed: ${JSON.stringify(msg.message.value)}`));
      } else onMessage(msg);
    });
    void stream.ended.then(({ status, message }) => reject(new Error(`stream ended: ${status} ${message}`)));
    stream.send({ requestId: "join", message: { case: "joinRoom", value: { roomCode } } });
  });
}

/** Waits until the replica of `masterId` has taken over; resolves with when it was seen (now()). */
async function promotion(cluster: LocalRedisCluster, livePort: number, replicaId: string): Promise<number> {
  for (;;) {
    const nodes = parseClusterNodes(await cluster.cli(livePort, "CLUSTER", "NODES").catch(() => ""));
    const replica = nodes.find((n) => n.id === replicaId);
    if (replica?.flags.includes("master") && replica.slots.length > 0) return now();
    await sleep(50);
  }
}

async function main(): Promise<void> {
  const loadBefore = loadavg();
  const stack = await startBenchStack({ gateways: 2, schedulers: 1, redis: "cluster", env: { SYNC_INTERVAL_MS: String(opts["interval-ms"]), SYNC_LEAD_MS: "50" } });
  const cluster = stack.cluster!;
  const streams: LeanStream[] = [];
  let stopped = false;
  try {
    const [dj, ...members] = await loginGuests(stack.gateways[0]!.url, 1 + stack.gateways.length);
    const auth = { headers: { authorization: `Bearer ${dj}` } };
    const clients = stack.gateways.map((g) => {
      const transport = createGrpcTransport({ baseUrl: g.url });
      return { rooms: createClient(RoomService, transport), playback: createClient(PlaybackService, transport) };
    });
    // The master of the sync's queue (the default tag), and two playing rooms on it.
    const { master } = await cluster.shardOf(`${syncQueueKeys("playback-sync").prefix}:x`);
    const trackEndOnIt = (await cluster.shardOf("{playback-end}:x")).master.id === master.id;
    const rooms: Array<{ roomId: string; roomCode: string }> = [];
    while (rooms.length < 2) {
      const state = (await clients[0]!.rooms.createRoom({}, auth)).state!;
      if ((await cluster.shardOf(roomKeys.meta(state.roomId))).master.id !== master.id) continue;
      await clients[0]!.playback.start({ roomId: state.roomId, trackId: "bench" }, auth);
      rooms.push({ roomId: state.roomId, roomCode: state.roomCode });
    }

    const received: Received[][] = stack.gateways.map(() => []);
    for (const [g, gateway] of stack.gateways.entries()) {
      for (const [room, { roomCode }] of rooms.entries()) {
        streams.push(await joinedStream(gateway.url, members[g]!, roomCode, (msg) => received[g]!.push({ at: now(), room, msg })));
      }
    }
    const seeks: Seek[][] = stack.gateways.map(() => []);
    const seeking = clients.map(async ({ playback }, g) => {
      for (let position = 0; !stopped; position = (position + 1000) % 600_000) {
        const sentAt = now();
        try {
          await playback.seek({ roomId: rooms[0]!.roomId, positionMs: position }, { ...auth, timeoutMs: 10_000 });
          seeks[g]!.push({ sentAt, answeredAt: now() });
        } catch (err) {
          seeks[g]!.push({ sentAt, answeredAt: now(), code: ConnectError.from(err).code });
        }
        await sleep(opts["command-every-ms"]);
      }
    });

    const rounds: Round[] = [];
    let victim = master;
    for (let r = 0; r < opts.repeat; r++) {
      const shard = await cluster.shardOf(roomKeys.meta(rooms[0]!.roomId));
      victim = shard.master;
      const live = cluster.nodes.find((n) => n.port !== victim.port)!;
      await sleep(2 * opts["interval-ms"]); // steady traffic and ticks before the kill
      const killedAt = now();
      await cluster.kill(victim.port);
      const promoted = promotion(cluster, live.port, shard.replicas[0]!.id);

      const perGateway = stack.gateways.map((_gateway, g) => {
        const after = () => received[g]!.filter((x) => x.at >= killedAt);
        const first = (match: (x: Received) => boolean) => {
          const hit = after().find(match);
          return hit === undefined ? undefined : round(hit.at - killedAt, 1);
        };
        return (): GatewayRecovery => ({
          firstCommandMs: ((s) => (s === undefined ? undefined : round(s.answeredAt - killedAt, 1)))(
            seeks[g]!.find((s) => s.sentAt >= killedAt && s.code === undefined),
          ),
          firstEventMs: first((x) => (publishedAt(x.msg) ?? 0) >= killedAt),
          firstTickMs: first((x) => x.room === 1 && x.msg.message.case === "playbackSync" && x.msg.message.value.serverTimestamp >= killedAt),
          firstRefetchMs: first((x) => x.msg.message.case === "roomState" && x.msg.requestId === ""),
          failedCommands: seeks[g]!.filter((s) => s.answeredAt >= killedAt && s.code !== undefined).reduce<Record<string, number>>((counts, s) => {
            counts[Code[s.code!]] = (counts[Code[s.code!]] ?? 0) + 1;
            return counts;
          }, {}),
        });
      });
      const done = () => perGateway.every((m) => Object.entries(m()).every(([k, v]) => k === "failedCommands" || v !== undefined));
      const deadline = killedAt + ROUND_LIMIT_MS;
      while (!done() && now() < deadline) await sleep(50);
      const promotedMs = round((await promoted) - killedAt, 1);
      rounds.push({ killedPort: victim.port, promotedMs, gateways: perGateway.map((m) => m()) });
      process.stdout.write(`round ${r + 1}: ${JSON.stringify(rounds.at(-1))}\n`);
      await cluster.revive(victim.port);
    }

    const across = (pick: (g: GatewayRecovery) => number | undefined) =>
      stack.gateways.map((_gateway, g) => spread(rounds.map((r) => pick(r.gateways[g]!))));
    writeResults("failover", {
      machine: { cpus: cpus().length, node: process.version, loadavg: { before: loadBefore, after: loadavg() } },
      options: opts,
      cluster: { masters: 3, replicasPerMaster: 1, nodeTimeoutMs: 2000 },
      onKilledMaster: { rooms: rooms.length, syncQueue: true, trackEndQueue: trackEndOnIt },
      // Per gateway, over the rounds (ms from the kill).
      summary: {
        promotedMs: spread(rounds.map((r) => r.promotedMs)),
        firstCommandMs: across((g) => g.firstCommandMs),
        firstEventMs: across((g) => g.firstEventMs),
        firstTickMs: across((g) => g.firstTickMs),
        firstRefetchMs: across((g) => g.firstRefetchMs),
      },
      rounds,
    });
    stopped = true;
    await Promise.all(seeking);
  } finally {
    stopped = true;
    for (const stream of streams) stream.close();
    await stack.stop();
  }
}

runBench(main);
