import { DjChangeReason, LeaveReason } from "../../gen/groovebox/room/v1/room_pb.js";
import { codeKey, presenceDueKey, roomKeys, roomScriptKeys } from "../common/keys.js";
import { newId } from "../common/ids.js";
import type { Logger } from "../common/logger.js";
import { LuaScript, type RedisClient } from "../common/redis.js";
import { decodePlaybackRecord } from "../playback/playback-record.js";
import type { Timeline } from "../playback/timeline.js";
import type { MemberSync } from "../../gen/groovebox/room/v1/room_pb.js";
import { decodeMemberSync, encodeMemberSync, memberSyncEvent } from "./member-sync.js";
import { generateRoomCode } from "./room-codes.js";
import {
  attachSessionScript,
  createRoomScript,
  detachSessionScript,
  joinRoomScript,
  leaveRoomScript,
  readRoomScript,
  reportSyncScript,
  renewSessionsScript,
  setDjScript,
  sweepRoomScript,
  touchMemberScript,
} from "./room-scripts.js";

export interface RoomStoreOptions {
  /** How long a member whose last stream dropped stays at least. */
  graceMs: number;
  /** How long a member without a stream stays after their last call in the room. */
  idleMs: number;
  /** How long a stream stays attached without its gateway renewing it. */
  leaseMs: number;
  /** How long an empty room (and its code) lives. */
  emptyRoomTtlMs: number;
}

/** What a room script answered: "OK" or why not. */
export type ScriptStatus = "OK" | "NOT_FOUND" | "NOT_MEMBER" | "NOT_DJ" | "SESSION_TAKEN" | "EXISTS" | "CONFLICT";

/** What a script did to the members: ['joined', user], ['left', user, reason], ['dj', previous, current, reason]. */
type MemberChange = string[];

type ScriptReply = [status: ScriptStatus, nextDue: string, roomCode: string, extra: string[], changes: MemberChange[]];

const LEAVE_REASONS: Record<string, string> = { [LeaveReason.LEFT]: "member left", [LeaveReason.TIMED_OUT]: "member timed out" };

/** Logs what a room script did to the room's members (joins, leaves, time-outs, DJ changes). */
function logChanges(logger: Logger, roomId: string, changes: MemberChange[]): void {
  for (const [kind, a, b, c] of changes) {
    if (kind === "joined") logger.info({ roomId, userId: a }, "member joined");
    else if (kind === "left") logger.info({ roomId, userId: a }, LEAVE_REASONS[b!] ?? "member left");
    else if (kind === "dj") {
      const reason = DjChangeReason[Number(c)]?.toLowerCase() ?? "unspecified";
      logger.info({ roomId, previousDjId: a || undefined, djId: b, reason }, "dj changed");
    }
  }
}

/** A room as stored, read in one atomic step. */
export interface StoredRoom {
  roomId: string;
  roomCode: string;
  name: string;
  currentDjId: string;
  playback: Timeline;
  /** Longest-present first. */
  members: Array<{ userId: string; displayName: string; joinedAtMs: number; streams: number; sync?: MemberSync }>;
  seq: bigint;
}

/**
 * The sweeper's update of a room's due time (the due set only; its own tag). ARGV: room, the
 * time swept, the room's next due time ("" = nothing due). An entry later than the time swept
 * was set by a change meanwhile: it stays, unless the new due time is earlier.
 */
const rescheduleScript = new LuaScript(`
local current = redis.call('ZSCORE', KEYS[1], ARGV[1])
if current and tonumber(current) > tonumber(ARGV[2]) then
  if ARGV[3] ~= '' then redis.call('ZADD', KEYS[1], 'LT', ARGV[3], ARGV[1]) end
elseif ARGV[3] == '' then
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
end
return 1
`);

/** Redis lists of alternating field, value into a Map. */
function pairs(flat: string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) map.set(flat[i]!, flat[i + 1]!);
  return map;
}

/**
 * The rooms service's storage: rooms, codes and presence. Every change is a room script
 * (one hash tag); afterwards the room's entry in the sweeper's due set and its code key's
 * lifetime are brought in line (separate keys, so separate commands).
 */
export function createRoomStore(redis: RedisClient, opts: RoomStoreOptions, logger: Logger) {
  async function run(
    script: LuaScript,
    roomId: string,
    nowMs: number,
    args: Array<string | number | Buffer>,
    sweeping = false,
  ): Promise<ScriptReply> {
    const reply = (await script.run(redis, roomScriptKeys(roomId), [
      roomId,
      nowMs,
      opts.graceMs,
      opts.emptyRoomTtlMs,
      ...args,
    ])) as ScriptReply;
    logChanges(logger, roomId, reply[4]);
    if (reply[0] === "OK") await afterChange(roomId, reply, nowMs, sweeping);
    return reply;
  }

  /**
   * Keeps the room's entries beside its own keys in line after a change. These are other
   * keys (other hash tags), written after the script, possibly by several rooms-service
   * processes at once, so each write is safe in any order: the due time only moves earlier
   * (except by the sweeper, which moves it on only from a time it has handled), and the code
   * key's lifetime is set, not toggled: every change and lease renewal gives it the empty-room
   * TTL again, so it lives while the room has members and expires with an empty room.
   */
  async function afterChange(roomId: string, [, nextDue, roomCode]: ScriptReply, nowMs: number, sweeping: boolean): Promise<void> {
    const ops: Array<Promise<unknown>> = [];
    if (sweeping) ops.push(rescheduleScript.run(redis, [presenceDueKey], [roomId, nowMs, nextDue]));
    else if (nextDue !== "") ops.push(redis.zadd(presenceDueKey, "LT", nextDue, roomId));
    if (roomCode !== "") ops.push(redis.pexpire(codeKey(roomCode), opts.emptyRoomTtlMs));
    await Promise.all(ops);
  }

  return {
    /** Makes a room with a fresh unique code; the creator is its first member and DJ. */
    async create(input: { name: string; userId: string; displayName: string }, nowMs: number) {
      for (let attempt = 0; attempt < 20; attempt++) {
        const roomCode = generateRoomCode();
        const roomId = newId();
        // SET NX claims the code: two rooms created at once never share one.
        if ((await redis.set(codeKey(roomCode), roomId, "NX")) !== "OK") continue;
        await run(createRoomScript, roomId, nowMs, [roomCode, input.name, input.userId, input.displayName, opts.idleMs]);
        return { roomId, roomCode };
      }
      throw new Error("no free room code found");
    },

    /** The room a code points to, if it still exists. */
    async resolveCode(roomCode: string): Promise<string | undefined> {
      return (await redis.get(codeKey(roomCode))) ?? undefined;
    },

    /** Removes a code that points to a room that no longer exists. */
    async forgetCode(roomCode: string, roomId: string): Promise<void> {
      if ((await redis.get(codeKey(roomCode))) === roomId) await redis.del(codeKey(roomCode));
    },

    join: (roomId: string, user: { userId: string; displayName: string }, nowMs: number) =>
      run(joinRoomScript, roomId, nowMs, [user.userId, user.displayName, opts.idleMs]).then((r) => r[0]),

    attach: (
      roomId: string,
      a: { sessionId: string; userId: string; displayName: string; mustBeMember: boolean },
      nowMs: number,
    ) =>
      run(attachSessionScript, roomId, nowMs, [a.sessionId, a.userId, a.displayName, opts.leaseMs, a.mustBeMember ? "1" : "0"]).then(
        (r) => r[0],
      ),

    detach: (roomId: string, sessionId: string, leave: boolean, nowMs: number) =>
      run(detachSessionScript, roomId, nowMs, [sessionId, leave ? "1" : "0"]).then((r) => r[0]),

    leave: (roomId: string, userId: string, nowMs: number) => run(leaveRoomScript, roomId, nowMs, [userId]).then((r) => r[0]),

    /** The member made a call in the room: without a stream they stay for the idle period. */
    touch: (roomId: string, userId: string, nowMs: number) => run(touchMemberScript, roomId, nowMs, [userId, opts.idleMs]).then((r) => r[0]),

    setDj: (roomId: string, callerId: string, newDjId: string, nowMs: number) =>
      run(setDjScript, roomId, nowMs, [callerId, newDjId]).then((r) => r[0]),

    /** Extends the leases of these streams; returns the ones the room does not know. */
    async renew(roomId: string, sessionIds: string[], nowMs: number): Promise<string[]> {
      const reply = await run(renewSessionsScript, roomId, nowMs, [opts.leaseMs, ...sessionIds]);
      return reply[3];
    },

    /** Applies expired leases and grace periods of one room. */
    sweep: (roomId: string, nowMs: number) => run(sweepRoomScript, roomId, nowMs, [], true).then((r) => r[0]),

    /** Rooms with something due at or before `nowMs` (at most `limit`). */
    dueRooms: (nowMs: number, limit: number) => redis.zrangebyscore(presenceDueKey, "-inf", nowMs, "LIMIT", 0, limit),

    /**
     * Stores a member's latest sync; `announce` decides from the one before whether the room
     * is told (member_sync_changed). A compare-and-set: retried when another report landed
     * between the read and the write. Resolves with the script's status and whether it announced.
     */
    async reportSync(
      roomId: string,
      userId: string,
      sync: MemberSync,
      announce: (previous: MemberSync | undefined) => boolean,
      nowMs: number,
    ): Promise<{ status: ScriptStatus; announced: boolean }> {
      for (let attempt = 0; ; attempt++) {
        const stored = (await redis.hget(roomKeys.memberSync(roomId), userId)) ?? "";
        const announced = announce(stored === "" ? undefined : decodeMemberSync(stored));
        const event = announced ? memberSyncEvent(roomId, userId, sync, nowMs) : "";
        const [status] = await run(reportSyncScript, roomId, nowMs, [userId, stored, encodeMemberSync(sync), event]);
        if (status !== "CONFLICT" || attempt >= 5) return { status, announced: announced && status === "OK" };
      }
    },

    /** The whole room, or undefined when it does not exist. */
    async read(roomId: string): Promise<StoredRoom | undefined> {
      const [metaFlat, dj, playback, membersFlat, order, streamsFlat, seq, syncFlat] = (await readRoomScript.run(
        redis,
        roomScriptKeys(roomId),
        [],
      )) as [string[], string, string, string[], string[], string[], string, string[]];
      const meta = pairs(metaFlat);
      if (!meta.has("room_id")) return undefined;
      const names = pairs(membersFlat);
      const streams = pairs(streamsFlat);
      const syncs = pairs(syncFlat);
      const members: StoredRoom["members"] = [];
      for (let i = 0; i + 1 < order.length; i += 2) {
        const userId = order[i]!;
        members.push({
          userId,
          displayName: names.get(userId) ?? "",
          joinedAtMs: Number(order[i + 1]),
          streams: Number(streams.get(userId) ?? 0),
          sync: syncs.has(userId) ? decodeMemberSync(syncs.get(userId)!) : undefined,
        });
      }
      return {
        roomId,
        roomCode: meta.get("room_code") ?? "",
        name: meta.get("name") ?? "",
        currentDjId: dj,
        playback: decodePlaybackRecord(playback),
        members,
        seq: BigInt(seq),
      };
    },
  };
}

export type RoomStore = ReturnType<typeof createRoomStore>;
