import type { Client } from "@connectrpc/connect";
import { ConnectError, Code } from "@connectrpc/connect";
import type { PlaybackCommand } from "../../gen/groovebox/gateway/v1/gateway_pb.js";
import type { PlaybackService, PlaybackState } from "../../gen/groovebox/playback/v1/playback_pb.js";
import { LeaveReason, type PresenceService, type RoomService, type RoomState } from "../../gen/groovebox/room/v1/room_pb.js";
import type { Logger } from "../common/logger.js";
import type { ClockReporter } from "./clock-reporter.js";
import type { RoomHub } from "./room-hub.js";
import type { StreamSession } from "./stream-session.js";

/** Sessions per RenewSessions call (the rooms service takes at most 10 000). */
const RENEW_BATCH = 1000;
/** RenewSessions calls in flight at once: a gateway in thousands of rooms renews them a few at a time. */
export const RENEW_CONCURRENCY = 8;

/** The longest join code accepted before asking the rooms service. */
const MAX_ROOM_CODE_LENGTH = 32;

export interface RoomRequestDeps {
  presence: Client<typeof PresenceService>;
  rooms: Client<typeof RoomService>;
  playback: Client<typeof PlaybackService>;
  hub: RoomHub;
  reporter: ClockReporter;
  logger: Logger;
}

/**
 * What a stream does about rooms: join (by code on Connect, by id on Subscribe), leave,
 * read the state, send playback commands, and leave its room when it ends. Every call to
 * another service made for the user carries the user's own token; presence calls carry the
 * gateway's service credential.
 */
export function createRoomRequests(deps: RoomRequestDeps) {
  const { presence, rooms, playback, hub, reporter, logger } = deps;
  /** Detach calls of ended streams still in flight (awaited on shutdown). */
  const detaching = new Set<Promise<unknown>>();
  /**
   * Streams with a leave_room in progress, and the room: that request answers room_left, so
   * the member_left it causes (often back before the call's answer) does not answer it again.
   */
  const leaving = new Map<StreamSession, string>();
  /** The lease renewal in progress: a renewal never starts while the last one runs. */
  let renewing: Promise<void> | undefined;

  function answerError(session: StreamSession, requestId: string, err: unknown): void {
    const e = ConnectError.from(err);
    if (e.code === Code.Internal || e.code === Code.Unknown) logger.warn({ err, sessionId: session.id }, "room request failed");
    session.sendError(requestId, e.code, e.rawMessage);
  }

  /** Leaves the session's room locally (events stop, clock index moves). */
  function leaveLocally(session: StreamSession): string {
    const roomId = session.roomId;
    if (roomId === "") return roomId;
    session.roomId = "";
    hub.remove(session, roomId);
    reporter.setRoom(session.id, "", roomId);
    return roomId;
  }

  /** Takes a session out of a room on the rooms service, in the background (the lease would expire anyway). */
  function detachInBackground(session: StreamSession, roomId: string, leave: boolean): void {
    const call = presence
      .detachSession({ roomId, sessionId: session.id, leave })
      .catch((err: unknown) => logger.warn({ err, roomId, sessionId: session.id }, "detach failed; the lease will expire"))
      .finally(() => detaching.delete(call));
    detaching.add(call);
  }

  /**
   * Subscribes the session to its new room and answers `requestId` with the room's state,
   * fresh if needed. The room's events are held from before the subscription until the state
   * is sent.
   */
  async function enterRoom(session: StreamSession, requestId: string, state: RoomState): Promise<void> {
    session.roomId = state.roomId;
    reporter.setRoom(session.id, state.roomId, "");
    session.holdEvents(state.roomId);
    let answer: RoomState | undefined;
    try {
      const { fresh } = await hub.add(session, state.roomId, state.seq);
      // Events between the attach and the subscription were not seen here: read again.
      answer = fresh ? ((await rooms.getRoomState({ roomId: state.roomId })).state ?? state) : state;
    } finally {
      session.releaseEvents(state.roomId, requestId, answer);
    }
  }

  async function attach(
    session: StreamSession,
    requestId: string,
    room: { case: "roomCode"; value: string } | { case: "roomId"; value: string },
  ): Promise<void> {
    // Joining the room the stream is in answers with a state read meanwhile: hold its events.
    const current = session.roomId;
    if (current !== "") session.holdEvents(current);
    let again: RoomState | undefined;
    try {
      const { state } = await presence.attachSession({
        sessionId: session.id,
        userId: session.user.userId,
        displayName: session.user.displayName,
        room,
      });
      if (state === undefined) throw new ConnectError("rooms service sent no state", Code.Internal);
      const previous = session.roomId;
      if (previous === state.roomId) {
        again = state; // joined the room it is in: just the state again
        return;
      }
      if (previous !== "") {
        leaveLocally(session);
        detachInBackground(session, previous, true);
      }
      try {
        await enterRoom(session, requestId, state);
      } catch (err) {
        // Half in: undo, so the session is neither subscribed nor attached.
        leaveLocally(session);
        detachInBackground(session, state.roomId, false);
        throw err;
      }
    } finally {
      if (current !== "") session.releaseEvents(current, requestId, again);
    }
  }

  /** The member's streams here leave with them (they left elsewhere or timed out). */
  function memberGone(session: StreamSession, roomId: string, reason: LeaveReason): void {
    if (session.roomId !== roomId || leaving.get(session) === roomId) return;
    leaveLocally(session);
    session.send({ message: { case: "roomLeft", value: { roomId, reason } } });
  }

  /** The leases of one room's streams, renewed in one call; the streams the room forgot leave it. */
  async function renewRoom(roomId: string, sessions: StreamSession[]): Promise<void> {
    try {
      const { unknownSessionIds } = await presence.renewSessions({ roomId, sessionIds: sessions.map((s) => s.id) });
      const unknown = new Set(unknownSessionIds);
      for (const s of sessions) if (unknown.has(s.id)) memberGone(s, roomId, LeaveReason.TIMED_OUT);
    } catch (err) {
      logger.warn({ err, roomId }, "lease renewal failed");
    }
  }

  async function renewAll(): Promise<void> {
    const batches = hub.localRooms().flatMap(({ roomId, sessions }) => {
      const out: Array<{ roomId: string; sessions: StreamSession[] }> = [];
      for (let i = 0; i < sessions.length; i += RENEW_BATCH) out.push({ roomId, sessions: sessions.slice(i, i + RENEW_BATCH) });
      return out;
    });
    const renewNext = async (): Promise<void> => {
      for (let batch = batches.pop(); batch !== undefined; batch = batches.pop()) await renewRoom(batch.roomId, batch.sessions);
    };
    await Promise.all(Array.from({ length: Math.min(RENEW_CONCURRENCY, batches.length) }, renewNext));
  }

  /** Sends a stream's playback command to the playback service (the request types match). */
  function sendPlaybackCommand(
    cmd: Exclude<PlaybackCommand["command"], { case: undefined }>,
    roomId: string,
    opts: { headers: Record<string, string> },
  ): Promise<{ state?: PlaybackState }> {
    switch (cmd.case) {
      case "start":
        return playback.start({ ...cmd.value, roomId }, opts);
      case "pause":
        return playback.pause({ ...cmd.value, roomId }, opts);
      case "resume":
        return playback.resume({ ...cmd.value, roomId }, opts);
      case "seek":
        return playback.seek({ ...cmd.value, roomId }, opts);
      case "stop":
        return playback.stop({ ...cmd.value, roomId }, opts);
    }
  }

  return {
    /** join_room: attach by code (leaving the stream's previous room). */
    async join(session: StreamSession, requestId: string, roomCode: string): Promise<void> {
      if (roomCode.trim() === "" || roomCode.length > MAX_ROOM_CODE_LENGTH) {
        session.sendError(requestId, Code.InvalidArgument, "join_room.room_code must be a room code");
        return;
      }
      await attach(session, requestId, { case: "roomCode", value: roomCode }).catch((err: unknown) =>
        answerError(session, requestId, err),
      );
    },

    /** Subscribe: attach by id; any failure ends the stream with its code. */
    async subscribe(session: StreamSession, roomId: string): Promise<void> {
      await attach(session, "", { case: "roomId", value: roomId }).catch((err: unknown) => session.fail(err));
    },

    /** leave_room: the member leaves now if this was their last stream there. */
    async leave(session: StreamSession, requestId: string): Promise<void> {
      const roomId = session.roomId;
      if (roomId === "") {
        session.sendError(requestId, Code.FailedPrecondition, "the stream is not in a room");
        return;
      }
      leaving.set(session, roomId);
      try {
        await presence.detachSession({ roomId, sessionId: session.id, leave: true });
      } catch (err) {
        answerError(session, requestId, err);
        return;
      } finally {
        leaving.delete(session);
      }
      leaveLocally(session);
      session.send({ requestId, message: { case: "roomLeft", value: { roomId, reason: LeaveReason.LEFT } } });
    },

    /** get_room_state (or a detected gap): the room's state now. */
    async state(session: StreamSession, requestId: string): Promise<void> {
      const roomId = session.roomId;
      if (roomId === "") {
        session.sendError(requestId, Code.FailedPrecondition, "the stream is not in a room");
        return;
      }
      session.holdEvents(roomId);
      let state: RoomState | undefined;
      try {
        state = (await rooms.getRoomState({ roomId }, { headers: { authorization: session.authorization } })).state;
      } catch (err) {
        answerError(session, requestId, err);
      } finally {
        const sent = session.releaseEvents(roomId, requestId, state);
        if (state !== undefined && !sent) session.sendError(requestId, Code.FailedPrecondition, "the stream left the room meanwhile");
      }
    },

    /** playback_command: forwarded to the playback service as the user; answered with the new state. */
    async playback(session: StreamSession, requestId: string, command: PlaybackCommand): Promise<void> {
      const cmd = command.command;
      if (cmd.case === undefined) {
        session.sendError(requestId, Code.InvalidArgument, "playback_command has no command set");
        return;
      }
      const roomId = cmd.value.roomId || session.roomId;
      if (roomId === "") {
        session.sendError(requestId, Code.FailedPrecondition, "join a room first, or name the room");
        return;
      }
      try {
        const { state } = await sendPlaybackCommand(cmd, roomId, { headers: { authorization: session.authorization } });
        session.send({ requestId, message: { case: "playbackState", value: state ?? {} } });
      } catch (err) {
        answerError(session, requestId, err);
      }
    },

    /** The member's streams here leave with them (they left elsewhere or timed out). */
    memberGone,

    /**
     * A stream ended and its requests have settled: it leaves its room (the member's grace
     * period starts) and its clock state goes.
     */
    release(session: StreamSession): void {
      const roomId = leaveLocally(session);
      reporter.endSession(session.id, roomId);
      if (roomId !== "") detachInBackground(session, roomId, false);
    },

    /**
     * Renews the leases of this gateway's streams in every room, RENEW_CONCURRENCY calls at a
     * time; drops the streams the room forgot. While a renewal runs, calling again returns it.
     */
    renewLeases(): Promise<void> {
      renewing ??= renewAll().finally(() => (renewing = undefined));
      return renewing;
    },

    /** Waits for the detach calls of ended streams (shutdown). */
    async settle(): Promise<void> {
      await Promise.allSettled([...detaching]);
    },
  };
}

export type RoomRequests = ReturnType<typeof createRoomRequests>;
