/**
 * What bench:scheduler reads from Redis: memory, the sync's keys one by one, the queue's jobs.
 * Key names below the queue's prefix are BullMQ's (`<prefix>:<queue>:repeat:<id>` and so on).
 */
import type { Cluster, Redis } from "ioredis";
import { roomKeys, syncQueueKeys } from "../services/common/keys.js";
import { SYNC_QUEUE } from "../services/playback/sync-schedule.js";

export async function usedMemory(redis: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await redis.info("memory"))![1]);
}

/**
 * What the sync keeps per playing room, key by key (sampled rooms): the job scheduler's hash,
 * its next job, the room's tick mark, and the room's share of the queue's sorted sets and the
 * index (of the queue with the given tag: SYNC_QUEUE_TAG).
 */
export async function syncMemory(redis: Redis | Cluster, roomIds: string[], tag = "playback-sync") {
  const keys = syncQueueKeys(tag);
  const base = `${keys.prefix}:${SYNC_QUEUE}`;
  const sample = roomIds.slice(0, 200);
  const usage = async (key: string) => Number((await redis.memory("USAGE", key)) ?? 0);
  const per = { schedulerHash: 0, nextJobHash: 0, tickMark: 0 };
  for (const roomId of sample) {
    per.schedulerHash += await usage(`${base}:repeat:${roomId}`);
    const next = await redis.zscore(`${base}:repeat`, roomId);
    per.nextJobHash += await usage(`${base}:repeat:${roomId}:${next}`);
    per.tickMark += await usage(roomKeys.syncTick(roomId));
  }
  const shared = { repeatZset: await usage(`${base}:repeat`), delayedZset: await usage(`${base}:delayed`), playingIndex: await usage(keys.playingRooms) };
  const perRoom = {
    schedulerHash: Math.round(per.schedulerHash / sample.length),
    nextJobHash: Math.round(per.nextJobHash / sample.length),
    tickMark: Math.round(per.tickMark / sample.length),
    sortedSetsAndIndex: Math.round((shared.repeatZset + shared.delayedZset + shared.playingIndex) / roomIds.length),
  };
  return { ...perRoom, total: Object.values(perRoom).reduce((a, b) => a + b, 0) };
}

/** Jobs of the sync queue by state: completed and failed ones must not pile up. */
export async function jobCounts(redis: Redis) {
  const base = `${syncQueueKeys("playback-sync").prefix}:${SYNC_QUEUE}`;
  return {
    delayed: await redis.zcard(`${base}:delayed`),
    wait: await redis.llen(`${base}:wait`),
    active: await redis.llen(`${base}:active`),
    completed: await redis.zcard(`${base}:completed`),
    failed: await redis.zcard(`${base}:failed`),
    eventStream: await redis.xlen(`${base}:events`),
  };
}

