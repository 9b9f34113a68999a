import { Code, type ServiceImpl } from "@connectrpc/connect";
import { PresenceService } from "../../gen/groovebox/room/v1/room_pb.js";
import { invalidArgument } from "../common/errors.js";
import { requireId, requireText } from "../common/validate.js";
import { DISPLAY_NAME_MAX } from "./auth-service.js";
import { check } from "./room-errors.js";
import { readState, resolveRoomCode, type RoomServiceDeps } from "./room-service.js";

/** The most sessions one RenewSessions call may name. */
export const MAX_RENEW_SESSIONS = 10_000;

/** PresenceService: gateways attach, detach and renew their streams' room memberships. */
export function createPresenceService(deps: RoomServiceDeps): ServiceImpl<typeof PresenceService> {
  const { store, clock } = deps;
  return {
    async attachSession(req) {
      const sessionId = requireId(req.sessionId, "session_id");
      const userId = requireId(req.userId, "user_id");
      const displayName = requireText(req.displayName, "display_name", 1, DISPLAY_NAME_MAX);
      let roomId: string;
      if (req.room.case === "roomCode") {
        roomId = (await resolveRoomCode(store, req.room.value)).roomId;
      } else if (req.room.case === "roomId") {
        roomId = requireId(req.room.value, "room_id");
      } else {
        throw invalidArgument("room_code or room_id is required");
      }
      const mustBeMember = req.room.case === "roomId";
      check(await store.attach(roomId, { sessionId, userId, displayName, mustBeMember }, clock.now()), {
        NOT_MEMBER: [Code.PermissionDenied, "not a member of the room: join it first"],
      });
      deps.logger.debug({ roomId, sessionId, userId }, "stream attached");
      return { state: (await readState(deps, roomId)).state };
    },

    async detachSession(req) {
      const roomId = requireId(req.roomId, "room_id");
      await store.detach(roomId, requireId(req.sessionId, "session_id"), req.leave, clock.now());
      return {};
    },

    async renewSessions(req) {
      const roomId = requireId(req.roomId, "room_id");
      if (req.sessionIds.length > MAX_RENEW_SESSIONS) throw invalidArgument(`at most ${MAX_RENEW_SESSIONS} sessions per call`);
      if (req.sessionIds.length === 0) return { unknownSessionIds: [] };
      const ids = req.sessionIds.map((id) => requireId(id, "session_ids"));
      return { unknownSessionIds: await store.renew(roomId, ids, clock.now()) };
    },

    async touchMember(req) {
      // Not a member (any more): nothing to keep, and nothing to tell the caller either.
      await store.touch(requireId(req.roomId, "room_id"), requireId(req.userId, "user_id"), clock.now());
      return {};
    },
  };
}
