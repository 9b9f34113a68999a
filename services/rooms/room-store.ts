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

/** Expired streams, and members whose time ran out, handled per sweep script call at most. */
export const SWEEP_PAGE = 100;

/** What a script may do to the room's deadlines, and so what is written beside it. */
type Effect = "none" | "deadlines" | "sweep";

/**
 * The rooms service's storage: rooms, codes and presence. Every change is a room script
 * (one hash tag). The room's entry in the sweeper's due set and its code key's lifetime are
 * other keys (other tags), written beside the script by separate commands, in an order that
 * a lost write or a crash between them cannot leave wrong for good:
 * - A script that may set a deadline (a lease, a grace or idle period) is preceded by a due
 *   entry no later than the earliest deadline it can set (ZADD LT, only ever earlier). If the
 *   script then fails, or the process dies, the room is swept a little early, and the sweep
 *   writes the room's real next due time, read from the room itself.
 * - A join code is claimed with the empty-room TTL, and every change, lease renewal and sweep
 *   gives it that TTL again: it lives while the room has members and expires with an empty
 *   room. A lost refresh only brings the code's end nearer, never leaves it for ever.
 */
export function createRoomStore(redis: RedisClient, opts: RoomStoreOptions, logger: Logger) {
  /** The earliest deadline a change at `nowMs` can set. */
  const soonestDeadline = (nowMs: number) => nowMs + Math.min(opts.leaseMs, opts.graceMs, opts.idleMs);

  async function run(
    script: LuaScript,
    roomId: string,
    nowMs: number,
    args: Array<string | number | Buffer>,
    effect: Effect = "none",
  ): Promise<ScriptReply> {
    if (effect === "deadlines") await redis.zadd(presenceDueKey, "LT", soonestDeadline(nowMs), roomId);
    const reply = (await script.run(redis, roomScriptKeys(roomId), [
      roomId,
      nowMs,
      opts.graceMs,
      opts.emptyRoomTtlMs,
      ...args,
    ])) as ScriptReply;
    logChanges(logger, roomId, reply[4]);
    if (reply[0] !== "OK") return reply;
    const [, nextDue, roomCode, extra] = reply;
    const ops: Array<Promise<unknown>> = [];
    // The sweeper moves the due time on from a time it has handled (several may sweep at
    // once); a page that left more to do keeps the room due.
    if (effect === "sweep" && extra[0] !== "more") ops.push(rescheduleScript.run(redis, [presenceDueKey], [roomId, nowMs, nextDue]));
    if (roomCode !== "") {
      ops.push(
        redis.pexpire(codeKey(roomCode), opts.emptyRoomTtlMs).catch((err: unknown) => {
          logger.warn({ err, roomId, roomCode }, "room code lifetime not extended; the next change extends it");
        }),
      );
    }
    await Promise.all(ops);
    return reply;
  }

  return {
    /** Makes a room with a fresh unique code; the creator is its first member and DJ. */
    async create(input: { name: string; userId: string; displayName: string }, nowMs: number) {
      for (let attempt = 0; attempt < 20; attempt++) {
        const roomCode = generateRoomCode();
        const roomId = newId();
        // SET NX claims the code: two rooms created at once never share one. With the room's
        // TTL, a claim whose room is never made (a crash, a failed script) frees itself.
        if ((await redis.set(codeKey(roomCode), roomId, "PX", opts.emptyRoomTtlMs, "NX")) !== "OK") continue;
        await run(createRoomScript, roomId, nowMs, [roomCode, input.name, input.userId, input.displayName, opts.idleMs], "deadlines");
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
      run(joinRoomScript, roomId, nowMs, [user.userId, user.displayName, opts.idleMs], "deadlines").then((r) => r[0]),

    attach: (
      roomId: string,
      a: { sessionId: string; userId: string; displayName: string; mustBeMember: boolean },
      nowMs: number,
    ) =>
      run(
        attachSessionScript,
        roomId,
        nowMs,
        [a.sessionId, a.userId, a.displayName, opts.leaseMs, a.mustBeMember ? "1" : "0"],
        "deadlines",
      ).then((r) => r[0]),

    detach: (roomId: string, sessionId: string, leave: boolean, nowMs: number) =>
      run(detachSessionScript, roomId, nowMs, [sessionId, leave ? "1" : "0"], "deadlines").then((r) => r[0]),

    leave: (roomId: string, userId: string, nowMs: number) => run(leaveRoomScript, roomId, nowMs, [userId]).then((r) => r[0]),

    /** The member made a call in the room: without a stream they stay for the idle period. */
    touch: (roomId: string, userId: string, nowMs: number) =>
      run(touchMemberScript, roomId, nowMs, [userId, opts.idleMs], "deadlines").then((r) => r[0]),

    setDj: (roomId: string, callerId: string, newDjId: string, nowMs: number) =>
      run(setDjScript, roomId, nowMs, [callerId, newDjId]).then((r) => r[0]),

    /** Extends the leases of these streams; returns the ones the room does not know. */
    async renew(roomId: string, sessionIds: string[], nowMs: number): Promise<string[]> {
      const reply = await run(renewSessionsScript, roomId, nowMs, [opts.leaseMs, ...sessionIds], "deadlines");
      return reply[3];
    },

    /** Applies expired leases and grace periods of one room, a page per script call. */
    async sweep(roomId: string, nowMs: number): Promise<ScriptStatus> {
      for (;;) {
        const [status, , , extra] = await run(sweepRoomScript, roomId, nowMs, [SWEEP_PAGE], "sweep");
        if (status !== "OK" || extra[0] !== "more") return status;
      }
    },

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
        const latencyMs = sync.report?.outputLatencyMs ?? 0;
        const [status] = await run(reportSyncScript, roomId, nowMs, [userId, stored, encodeMemberSync(sync), event, latencyMs]);
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
