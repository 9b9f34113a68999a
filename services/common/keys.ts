/**
 * Every Redis key and channel name of groovebox, and nothing else builds them.
 *
 * Redis Cluster hashes only the part in braces (the hash tag), so all keys of one room, and
 * its event channel, live on one shard, and all keys of one session on one shard. A Lua
 * script or MULTI may touch the keys of one tag only: one room, or one session. The seed's
 * names are kept, with the id written in literal braces: `room:{r8f3k}:state.playback`.
 */

/** Ids become hash tags: they must be non-empty and free of braces. */
export function assertKeyId(id: string): string {
  if (id.length === 0 || id.includes("{") || id.includes("}")) {
    throw new Error(`invalid key id ${JSON.stringify(id)}`);
  }
  return id;
}

const room = (roomId: string, suffix: string) => `room:{${assertKeyId(roomId)}}:${suffix}`;
const socket = (sessionId: string, suffix: string) => `socket:{${assertKeyId(sessionId)}}:${suffix}`;

/** Keys of one gateway session (one stream); they expire with the session's clock TTL. */
export const sessionKeys = {
  /**
   * Seed key: the session's clock offset, ms (server = client + offset), extrapolated to the
   * time it was written; clockEstimate has what extrapolates it to any other time.
   */
  clockOffset: (sessionId: string) => socket(sessionId, "user.clockOffset"),
  /** Seed key: the round trip of the session's newest sample, ms. */
  lastRtt: (sessionId: string) => socket(sessionId, "user.lastRtt"),
  /** List of the session's recent complete samples (the estimator's window). */
  clockSamples: (sessionId: string) => socket(sessionId, "clock.samples"),
  /**
   * Hash: the session's estimate at its newest sample (offsetMs at referenceTimeMs, driftPpm,
   * errorMs, driftErrorPpm, round trips, sample count and time) and its drift filter's state.
   */
  clockEstimate: (sessionId: string) => socket(sessionId, "clock.estimate"),
};

/** Keys of one room. */
export const roomKeys = {
  /** Hash: room_id, room_code, name, created_at. */
  meta: (roomId: string) => room(roomId, "meta"),
  /** Seed key: the DJ's user id. */
  currentDj: (roomId: string) => room(roomId, "state.currentDjId"),
  /** Seed key: the playback timeline (JSON). */
  playback: (roomId: string) => room(roomId, "state.playback"),
  /** Hash: user id -> member JSON (display name, joined at). */
  members: (roomId: string) => room(roomId, "members"),
  /** Sorted set: user id by joined-at time (the succession order). */
  memberOrder: (roomId: string) => room(roomId, "members.order"),
  /** Hash: user id -> how many of the member's streams are attached. */
  memberSessions: (roomId: string) => room(roomId, "members.sessions"),
  /** Sorted set: attached session id by lease expiry time. */
  sessions: (roomId: string) => room(roomId, "sessions"),
  /** Hash: attached session id -> user id. */
  sessionUsers: (roomId: string) => room(roomId, "sessions.user"),
  /**
   * Sorted set, all scores 0: "<user id>:<session id>" of each attached session, so a user's
   * sessions are one ZRANGEBYLEX away (ids never contain ":").
   */
  userSessions: (roomId: string) => room(roomId, "sessions.byUser"),
  /** Sorted set: user id of members without a stream, by the end of their grace period. */
  leaving: (roomId: string) => room(roomId, "members.leaving"),
  /** Hash: user id -> the member's latest sync report (MemberSync JSON). */
  memberSync: (roomId: string) => room(roomId, "members.sync"),
  /**
   * Sorted set: user id by the output latency (ms) in the member's latest sync report, so the
   * start buffer can make room for the largest one in O(log n).
   */
  outputLatency: (roomId: string) => room(roomId, "members.latency"),
  /** Counter: the room's event sequence number. */
  seq: (roomId: string) => room(roomId, "seq"),
  /** Sorted set: session id by the round trip of its fresh clock estimate, ms. */
  rtt: (roomId: string) => room(roomId, "rtt"),
  /** Sorted set: session id by the time of its latest clock sample (freshness). */
  rttSeen: (roomId: string) => room(roomId, "rtt.seen"),
  /**
   * The server time (ms) of the last playback_sync tick sent to the room: a tick is sent only
   * if it is later, so a job run twice never sends its tick twice. Expires by itself.
   */
  syncTick: (roomId: string) => room(roomId, "sync.tick"),
  /** Sharded pub/sub channel of the room's events. */
  events: (roomId: string) => room(roomId, "events"),
};

/**
 * The keys a room script receives, in this order (KEYS[1..n]); the Lua prelude of room
 * scripts names them `K.<name>`. The last one is the room's event channel.
 */
export const ROOM_SCRIPT_KEY_NAMES = [
  "meta",
  "currentDj",
  "playback",
  "members",
  "memberOrder",
  "memberSessions",
  "sessions",
  "sessionUsers",
  "userSessions",
  "leaving",
  "seq",
  "rtt",
  "rttSeen",
  "memberSync",
  "outputLatency",
  "events",
] as const satisfies ReadonlyArray<keyof typeof roomKeys>;

/** KEYS for a room script: every key of the room (what expires together) and its channel. */
export function roomScriptKeys(roomId: string): string[] {
  return ROOM_SCRIPT_KEY_NAMES.map((name) => roomKeys[name](roomId));
}

/** Lua: `K.meta`, `K.members`, ... for the KEYS of roomScriptKeys. */
export const LUA_ROOM_KEYS = `local K = {}
for i, name in ipairs({${ROOM_SCRIPT_KEY_NAMES.map((n) => `'${n}'`).join(", ")}}) do K[name] = KEYS[i] end
`;

/** Keys of one user: their id is the hash tag. */
export const userKeys = {
  /** Sorted set: the user's open streams on every gateway (session id by lease end, ms). */
  streams: (userId: string) => `user:{${assertKeyId(userId)}}:streams`,
  /** Rate-limit counter (rate-limiter-flexible): rooms the user created in the current window. */
  roomsCreated: (userId: string) => `user:{${assertKeyId(userId)}}:rooms.created`,
  /** Hash: device id -> "output latency ms,updated at ms" of the user's devices (from their sync reports). */
  devices: (userId: string) => `user:{${assertKeyId(userId)}}:devices`,
};

/** Rate-limit counters (rate-limiter-flexible) of logins. */
export const loginKeys = {
  /** Logins from one client address (an IPv4 address or an IPv6 /64) in the current window. */
  byAddress: (address: string) => `login:{${assertKeyId(address)}}`,
  /** Logins from everyone in the current window: one key, one shard. */
  all: "login:{all}",
};

/** The room id a join code points to. */
export const codeKey = (roomCode: string) => `code:{${assertKeyId(roomCode)}}`;

/**
 * Sorted set of room ids by the next time the presence sweeper must look at the room (a lease
 * or a grace period ends). Its own tag: written beside room scripts, never inside them.
 */
export const presenceDueKey = "presence:{due}";

/** The BullMQ queue prefix of the track-end timer: its own hash tag, one shard. */
export const playbackEndQueuePrefix = "{playback-end}";

/**
 * The keys of the periodic playback_sync (the 10 s sync), all on the queue's own hash tag:
 * the BullMQ prefix, the index of playing rooms the scheduler reconciles from (a set of room
 * ids), and the lock of the periodic reconcile. They live on one shard, and are split together
 * when rooms are spread over several queues (one tag each).
 */
export function syncQueueKeys(tag: string) {
  const prefix = `{${assertKeyId(tag)}}`;
  return {
    prefix,
    playingRooms: `${prefix}:rooms.playing`,
    reconcileLock: `${prefix}:reconcile.lock`,
  };
}

export type SyncQueueKeys = ReturnType<typeof syncQueueKeys>;
