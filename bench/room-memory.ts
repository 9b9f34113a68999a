/**
 * What a playing room keeps in Redis, key by key (MEMORY USAGE on sampled rooms), in the groups
 * the capacity plan counts: the room's state, its members, its round-trip index, its streams
 * (the room's leases, each stream's clock keys, each member's stream lease and devices), the
 * periodic sync's BullMQ job scheduler, and the track-end job. Key names below a BullMQ prefix
 * are BullMQ's (`<prefix>:<queue>:<job id>`, `<prefix>:<queue>:delayed`).
 */
import type { Cluster, Redis } from "ioredis";
import { codeKey, playbackEndQueuePrefix, presenceDueKey, roomKeys, sessionKeys, userKeys } from "../services/common/keys.js";
import { TRACK_END_QUEUE, trackEndJobPrefix } from "../services/playback/track-end.js";
import { syncMemory } from "./sync-redis.js";

export interface PlayingRoom {
  roomId: string;
  roomCode: string;
  /** The timeline version its Start made (names its track-end job). */
  version: number;
}

/** Rooms whose keys are read one by one; shared sorted sets are divided by all the rooms. */
const SAMPLE = 20;

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** Bytes per playing room by group (averages over the sampled rooms), and their total; the sync queue is the one with the given tag. */
export async function roomMemory(redis: Redis | Cluster, rooms: PlayingRoom[], syncQueueTag: string) {
  const usage = async (key: string) => Number((await redis.memory("USAGE", key)) ?? 0);
  const usages = async (keys: string[]) => sum(await Promise.all(keys.map(usage)));
  const totals = { state: 0, members: 0, rttIndex: 0, roomLeases: 0, streamClocks: 0, userKeys: 0, trackEndJob: 0 };
  const sample = rooms.slice(0, SAMPLE);
  // End jobs are named after their end time too: find each room's among the waiting ones.
  const endJobs = await redis.zrange(`${playbackEndQueuePrefix}:${TRACK_END_QUEUE}:delayed`, "0", "-1");
  for (const { roomId: id, roomCode, version } of sample) {
    const k = roomKeys;
    totals.state += await usages([k.meta(id), k.currentDj(id), k.playback(id), k.seq(id), codeKey(roomCode)]);
    totals.members += await usages([k.members(id), k.memberOrder(id), k.memberSessions(id), k.leaving(id), k.memberSync(id)]);
    totals.rttIndex += await usages([k.rtt(id), k.rttSeen(id)]);
    totals.roomLeases += await usages([k.sessions(id), k.sessionUsers(id), k.userSessions(id)]);
    for (const [sessionId, userId] of Object.entries(await redis.hgetall(k.sessionUsers(id)))) {
      const s = sessionKeys;
      totals.streamClocks += await usages([s.clockSamples(sessionId), s.clockEstimate(sessionId), s.clockOffset(sessionId), s.lastRtt(sessionId)]);
      totals.userKeys += await usages([userKeys.streams(userId), userKeys.devices(userId), userKeys.roomsCreated(userId)]);
    }
    const endJob = endJobs.find((jobId) => jobId.startsWith(trackEndJobPrefix(id, version)));
    if (endJob !== undefined) totals.trackEndJob += await usage(`${playbackEndQueuePrefix}:${TRACK_END_QUEUE}:${endJob}`);
  }
  const perRoom = Object.fromEntries(Object.entries(totals).map(([group, bytes]) => [group, Math.round(bytes / sample.length)]));
  const shared = await usages([`${playbackEndQueuePrefix}:${TRACK_END_QUEUE}:delayed`, presenceDueKey]);
  perRoom.sharedSortedSets = Math.round(shared / rooms.length);
  const syncSchedule = await syncMemory(redis, rooms.map((r) => r.roomId), syncQueueTag);
  perRoom.syncSchedule = syncSchedule.total;
  return { bytesPerRoom: perRoom, total: sum(Object.values(perRoom)), syncScheduleDetail: syncSchedule, sampledRooms: sample.length };
}
