import type { MessageInitShape } from "@bufbuild/protobuf";
import type { RoomStateSchema } from "../../gen/groovebox/room/v1/room_pb.js";
import { playbackStateAt } from "../playback/playback-view.js";
import type { StoredRoom } from "./room-store.js";

/** The RoomState message of a stored room at server time `nowMs` (the playback position then). */
export function roomStateAt(room: StoredRoom, nowMs: number): MessageInitShape<typeof RoomStateSchema> {
  return {
    roomId: room.roomId,
    roomCode: room.roomCode,
    name: room.name,
    members: room.members.map((m) => ({
      userId: m.userId,
      displayName: m.displayName,
      joinedAtTimeMs: m.joinedAtMs,
      isDj: m.userId === room.currentDjId,
      connected: m.streams > 0,
      sync: m.sync,
    })),
    currentDjId: room.currentDjId,
    playback: playbackStateAt(room.roomId, room.playback, nowMs),
    serverTimestamp: nowMs,
    seq: room.seq,
  };
}
