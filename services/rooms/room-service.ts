import { Code, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { RoomService } from "../../gen/groovebox/room/v1/room_pb.js";
import { principalKey, requireUser } from "../common/auth/gate.js";
import type { ClockSource } from "../common/clock-source.js";
import { userKeys } from "../common/keys.js";
import type { Logger } from "../common/logger.js";
import type { RateLimit } from "../common/rate-limit.js";
import { notFound, permissionDenied, invalidArgument } from "../common/errors.js";
import { requireId, requireText } from "../common/validate.js";
import { normalizeRoomCode } from "./room-codes.js";
import { check } from "./room-errors.js";
import { roomStateAt } from "./room-state.js";
import type { RoomStore } from "./room-store.js";

export const ROOM_NAME_MAX = 60;

export interface RoomServiceDeps {
  store: RoomStore;
  clock: ClockSource;
  logger: Logger;
  /** Rooms one user may create (counted in Redis, across rooms processes). */
  creationLimit: RateLimit;
}

/** Reads a room's state for an answer; NOT_FOUND when it is gone. */
export async function readState(deps: RoomServiceDeps, roomId: string) {
  const room = await deps.store.read(roomId);
  if (room === undefined) throw notFound("room not found");
  return { room, state: roomStateAt(room, deps.clock.now()) };
}

/** A join code from a request: INVALID_ARGUMENT when malformed, NOT_FOUND when no room has it. */
export async function resolveRoomCode(store: RoomStore, input: string): Promise<{ roomId: string; roomCode: string }> {
  const roomCode = normalizeRoomCode(input);
  if (roomCode === undefined) throw invalidArgument("room_code must be 6 letters or digits");
  const roomId = await store.resolveCode(roomCode);
  if (roomId === undefined) throw notFound(`no room with code ${roomCode}`);
  return { roomId, roomCode };
}

/** RoomService: create, join, leave, read, hand over the DJ role. */
export function createRoomService(deps: RoomServiceDeps): Omit<ServiceImpl<typeof RoomService>, "reportSync" | "getDevice"> {
  const { store, clock, logger } = deps;
  return {
    async createRoom(req, ctx) {
      const user = requireUser(ctx);
      if (req.name !== "" && req.name.trim() === "") {
        throw invalidArgument("name must not be blank: leave it empty for a room without a name");
      }
      const name = req.name === "" ? "" : requireText(req.name, "name", 1, ROOM_NAME_MAX);
      await deps.creationLimit(userKeys.roomsCreated(user.userId));
      const { roomId, roomCode } = await store.create({ name, userId: user.userId, displayName: user.displayName }, clock.now());
      logger.info({ roomId, roomCode, userId: user.userId }, "room created");
      return { state: (await readState(deps, roomId)).state };
    },

    async joinRoom(req, ctx) {
      const user = requireUser(ctx);
      const { roomId, roomCode } = await resolveRoomCode(store, req.roomCode);
      const status = await store.join(roomId, user, clock.now());
      if (status === "NOT_FOUND") await store.forgetCode(roomCode, roomId);
      check(status);
      return { state: (await readState(deps, roomId)).state };
    },

    async leaveRoom(req, ctx) {
      const user = requireUser(ctx);
      const roomId = requireId(req.roomId, "room_id");
      check(await store.leave(roomId, user.userId, clock.now()));
      return {};
    },

    async getRoomState(req, ctx: HandlerContext) {
      const { room, state } = await readState(deps, requireId(req.roomId, "room_id"));
      const principal = ctx.values.get(principalKey);
      if (principal?.kind === "user" && !room.members.some((m) => m.userId === principal.userId)) {
        throw permissionDenied("not a member of the room");
      }
      return { state };
    },

    async setDj(req, ctx) {
      const user = requireUser(ctx);
      const roomId = requireId(req.roomId, "room_id");
      const newDjId = requireId(req.userId, "user_id");
      check(await store.setDj(roomId, user.userId, newDjId, clock.now()), {
        NOT_MEMBER: [Code.FailedPrecondition, "the new DJ is not a member of the room"],
      });
      return { state: (await readState(deps, roomId)).state };
    },
  };
}
