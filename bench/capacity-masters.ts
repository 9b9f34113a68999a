/**
 * A cluster's masters in the capacity benchmark: the rooms each serves, which of the keys all
 * rooms share each holds (each has a tag of its own, so one master holds it all), the load each
 * carries, and what the master holding the sync queue does beyond its rooms' share while only
 * the 10 s sync runs: BullMQ's cost per tick, all on one shard.
 */
import type { Cluster, Redis } from "ioredis";
import { loginKeys, playbackEndQueuePrefix, presenceDueKey, syncQueueKeys } from "../services/common/keys.js";
import { round } from "./harness.js";
import { callRate, masterLookup, roomsPerMaster, type NodeRate } from "./redis-nodes.js";

export interface MasterLayout {
  port: number;
  rooms: number;
  /** The shared keys it holds. */
  holds: string[];
}

/** Where the rooms and the shared keys (the sync queue with the given tag among them) landed. */
export async function masterLayout(redis: Redis | Cluster, roomIds: string[], syncQueueTag: string): Promise<MasterLayout[]> {
  const shared = {
    syncQueue: syncQueueKeys(syncQueueTag).playingRooms,
    trackEndQueue: playbackEndQueuePrefix,
    presenceDue: presenceDueKey,
    loginsAll: loginKeys.all,
  };
  const rooms = await roomsPerMaster(redis, roomIds);
  const masterOf = await masterLookup(redis);
  const holders = await Promise.all(Object.entries(shared).map(async ([name, key]) => [name, await masterOf(key)] as const));
  return Object.keys(rooms)
    .map(Number)
    .map((port) => ({ port, rooms: rooms[port]!, holds: holders.filter(([, at]) => at === port).map(([name]) => name) }));
}

/** Each master's CPU (% of a core) and commands per second beyond what it did idle. */
export function masterLoad(layout: MasterLayout[], rates: Map<number, NodeRate>, idle: Map<number, NodeRate>) {
  return layout.map((m) => {
    const [r, i] = [rates.get(m.port)!, idle.get(m.port)!];
    return { ...m, cpuPercent: round((r.cpu - i.cpu) * 100, 2), commandsPerSecond: round(callRate(r) - callRate(i), 1) };
  });
}

/**
 * BullMQ's cost per tick on the sync queue's shard: that master's load beyond what the other
 * masters carry per room of theirs (the ticks' room scripts), times its own rooms.
 */
export function syncQueuePerTick(load: ReturnType<typeof masterLoad>, ticksPerSecond: number) {
  const queue = load.find((m) => m.holds.includes("syncQueue"))!;
  const others = load.filter((m) => m !== queue);
  const otherRooms = others.reduce((n, m) => n + m.rooms, 0);
  const excess = (pick: (m: (typeof load)[number]) => number) =>
    (pick(queue) - (others.reduce((n, m) => n + pick(m), 0) / otherRooms) * queue.rooms) / ticksPerSecond;
  return { cpuMicros: round(excess((m) => m.cpuPercent * 1e4), 1), commands: round(excess((m) => m.commandsPerSecond), 2) };
}
