/**
 * What the benchmarks read from a stack's Redis node by node, the same way on a single Redis
 * and on a cluster (where each master is asked in turn).
 */
import type { Cluster, Redis } from "ioredis";
import { roomKeys } from "../services/common/keys.js";

/** How many of the rooms each master serves (by the slot of the room's hash tag), by port. */
export async function roomsPerMaster(redis: Redis | Cluster, roomIds: string[]): Promise<Record<string, number>> {
  const ranges = (await redis.call("CLUSTER", "SLOTS")) as Array<[number, number, [string, number]]>;
  const counts: Record<string, number> = {};
  for (const roomId of roomIds) {
    const slot = (await redis.call("CLUSTER", "KEYSLOT", roomKeys.seq(roomId))) as number;
    const [, , [, port]] = ranges.find(([from, to]) => slot >= from && slot <= to)!;
    counts[port] = (counts[port] ?? 0) + 1;
  }
  return counts;
}
