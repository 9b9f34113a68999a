import { fromBinary } from "@bufbuild/protobuf";
import { Cluster } from "ioredis";
import { RoomEventSchema, type LeaveReason } from "../../gen/groovebox/room/v1/room_pb.js";
import { roomKeys } from "../common/keys.js";
import type { Logger } from "../common/logger.js";
import type { RedisClient } from "../common/redis.js";
import { decodeRoomEventFrame } from "../common/room-events.js";
import { watchClusterSubscriptions } from "./cluster-subscriptions.js";
import type { GatewayMetrics } from "./metrics.js";
import type { ServerMessageInit, StreamSession } from "./stream-session.js";

/** Streams get an event in chunks of this many, yielding to the event loop between chunks. */
const FANOUT_CHUNK = 100;
/** Recent events kept per room, replayed to a stream that joins while they are in flight. */
const RECENT_EVENTS = 64;
/**
 * Events of a room waiting for their fan-out, at most (a big room's fan-out yields between
 * chunks, and Redis may deliver faster meanwhile). Beyond it the waiting events are dropped
 * and the room's streams read its state again, as after any gap.
 */
export const MAX_ROOM_BACKLOG = 1024;

interface RoomEventMessage {
  message: ServerMessageInit & { seq: bigint };
  /** When the event came from Redis (performance.now(), ms): fan-out time is measured from here. */
  receivedAt: number;
  /** Set for member_left: whose streams leave the room with it. */
  gone?: { userId: string; reason: LeaveReason };
}

interface LocalRoom {
  roomId: string;
  channel: string;
  sessions: Set<StreamSession>;
  /** Events waiting to be delivered, in seq order; one drain loop per room keeps the order. */
  backlog: RoomEventMessage[];
  /** The last events delivered, oldest first. */
  recent: RoomEventMessage[];
  draining: boolean;
  /** Resolves when the channel subscription is active. */
  subscribed: Promise<void>;
  /** True once the subscription is active: events from then on are seen here. */
  active: boolean;
  /** The seq of the last event seen (0 before the first). */
  lastSeq: bigint;
}

/**
 * The gateway's side of fan-out: it subscribes (SSUBSCRIBE, sharded pub/sub) to the channel
 * of each room that has local streams, and unsubscribes when the last one leaves. Each event
 * is decoded once and handed to the room's local streams in chunks, so one big room does not
 * make every stream wait for all the others.
 */
export function createRoomHub(deps: {
  subscriber: RedisClient;
  logger: Logger;
  metrics: GatewayMetrics;
  /** A member of the room left (or timed out) while this gateway held a stream of theirs. */
  onMemberGone(session: StreamSession, roomId: string, reason: LeaveReason): void;
  /**
   * Events of the room may have been missed (the subscriber reconnected or, on a Redis Cluster,
   * subscribed again after a failover or a slot move, or an event's seq skipped ahead): the
   * room's state should be sent again to these streams.
   */
  onMissed(roomId: string, sessions: StreamSession[]): void;
  /** Events waiting per room before the backlog is dropped (default MAX_ROOM_BACKLOG). */
  maxBacklog?: number;
}) {
  const maxBacklog = deps.maxBacklog ?? MAX_ROOM_BACKLOG;
  const rooms = new Map<string, LocalRoom>();
  const byChannel = new Map<string, LocalRoom>();
  const log = deps.logger;
  let subscriberDown = false;

  deps.subscriber.on("smessageBuffer", (channel: Buffer, frame: Buffer) => {
    const room = byChannel.get(channel.toString());
    if (room === undefined) return;
    deps.metrics.roomEvents.inc();
    let message: RoomEventMessage;
    try {
      const { seq, body } = decodeRoomEventFrame(frame);
      const event = fromBinary(RoomEventSchema, body).event;
      if (event.case === undefined) return;
      message = { message: { seq, message: event } as RoomEventMessage["message"], receivedAt: performance.now() };
      if (event.case === "memberLeft") message.gone = { userId: event.value.userId, reason: event.value.reason };
    } catch (err) {
      log.warn({ err, roomId: room.roomId }, "undecodable room event dropped");
      return;
    }
    // One room-wide check for lost events, not one per stream: the state is read once for all.
    const seq = message.message.seq;
    if (room.lastSeq !== 0n && seq > room.lastSeq + 1n) deps.onMissed(room.roomId, [...room.sessions]);
    if (seq > room.lastSeq) room.lastSeq = seq;
    if (room.backlog.length >= maxBacklog) {
      // The state read now includes every dropped event; newer events follow it.
      deps.metrics.backlogOverflows.inc();
      log.warn({ roomId: room.roomId, dropped: room.backlog.length }, "room event backlog full: dropped, streams read the state again");
      room.backlog = [];
      deps.onMissed(room.roomId, [...room.sessions]);
    }
    room.backlog.push(message);
    if (!room.draining) drain(room);
  });
  deps.subscriber.on("error", () => {
    subscriberDown = true;
  });
  deps.subscriber.on("ready", () => {
    if (!subscriberDown) return;
    subscriberDown = false;
    for (const room of rooms.values()) deps.onMissed(room.roomId, [...room.sessions]);
  });
  // On a cluster, one master failing or a slot moving interrupts some rooms' subscriptions only.
  const clusterWatch =
    deps.subscriber instanceof Cluster
      ? watchClusterSubscriptions(deps.subscriber, {
          logger: log,
          resubscribed(channel) {
            const room = byChannel.get(channel);
            if (room !== undefined) deps.onMissed(room.roomId, [...room.sessions]);
          },
        })
      : undefined;

  function deliver(session: StreamSession, room: LocalRoom, event: RoomEventMessage): void {
    if (session.roomId !== room.roomId) return;
    session.deliverRoomEvent(room.roomId, event.message);
    if (event.gone?.userId === session.user.userId) deps.onMemberGone(session, room.roomId, event.gone.reason);
  }

  function drain(room: LocalRoom): void {
    room.draining = true;
    const event = room.backlog.shift();
    if (event === undefined) {
      room.draining = false;
      return;
    }
    room.recent.push(event);
    if (room.recent.length > RECENT_EVENTS) room.recent.shift();
    const targets = [...room.sessions];
    let i = 0;
    const step = () => {
      const end = Math.min(i + FANOUT_CHUNK, targets.length);
      for (; i < end; i++) deliver(targets[i]!, room, event);
      if (i < targets.length) {
        setImmediate(step);
        return;
      }
      deps.metrics.fanout.observe((performance.now() - event.receivedAt) / 1000);
      drain(room);
    };
    step();
  }

  async function subscribe(room: LocalRoom): Promise<void> {
    await deps.subscriber.ssubscribe(room.channel);
    room.active = true;
    if (rooms.get(room.roomId) === room) clusterWatch?.track(room.channel);
    deps.metrics.roomsSubscribed.set(rooms.size);
  }

  return {
    /**
     * Starts delivering the room's events to the session, beginning with the recent events
     * after `afterSeq` (those published while the session's join was on its way). Resolves
     * when the subscription is active, with `fresh` true when this call had to subscribe: then
     * events before that moment were not seen here and the caller reads the state again.
     */
    async add(session: StreamSession, roomId: string, afterSeq: bigint): Promise<{ fresh: boolean }> {
      let room = rooms.get(roomId);
      // Not yet subscribed (by this call or one still in progress): events may have been missed.
      const fresh = room === undefined || !room.active;
      if (room === undefined) {
        const channel = roomKeys.events(roomId);
        room = {
          roomId,
          channel,
          sessions: new Set(),
          backlog: [],
          recent: [],
          draining: false,
          subscribed: Promise.resolve(),
          active: false,
          lastSeq: 0n,
        };
        rooms.set(roomId, room);
        byChannel.set(channel, room);
        room.subscribed = subscribe(room);
      }
      room.sessions.add(session);
      for (const event of room.recent) if (event.message.seq > afterSeq) deliver(session, room, event);
      try {
        await room.subscribed;
      } catch (err) {
        this.remove(session, roomId);
        throw err;
      }
      return { fresh };
    },

    /** Stops delivering the room's events to the session; the last one out unsubscribes. */
    remove(session: StreamSession, roomId: string): void {
      const room = rooms.get(roomId);
      if (room === undefined || !room.sessions.delete(session) || room.sessions.size > 0) return;
      rooms.delete(roomId);
      byChannel.delete(room.channel);
      clusterWatch?.untrack(room.channel);
      deps.metrics.roomsSubscribed.set(rooms.size);
      deps.subscriber.sunsubscribe(room.channel).catch((err: unknown) => {
        log.debug({ err, roomId }, "unsubscribe failed");
      });
    },

    /** The sessions of each room with local streams (for lease renewal). */
    localRooms(): Array<{ roomId: string; sessions: StreamSession[] }> {
      return [...rooms.values()].map((r) => ({ roomId: r.roomId, sessions: [...r.sessions] }));
    },
  };
}

export type RoomHub = ReturnType<typeof createRoomHub>;
