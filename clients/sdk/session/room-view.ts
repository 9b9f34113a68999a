import { create } from "@bufbuild/protobuf";
import type { ServerMessage } from "../../../gen/groovebox/gateway/v1/gateway_pb.js";
import { MemberSchema, RoomStateSchema, type RoomState } from "../../../gen/groovebox/room/v1/room_pb.js";

/**
 * The room's state after one of its events: members join and leave, the DJ changes, a
 * member's sync quality changes, the timeline moves. Returns a new object (the old one is left as it was), with seq set to the
 * event's.
 */
export function applyRoomEvent(state: RoomState, msg: ServerMessage): RoomState {
  const next = create(RoomStateSchema, { ...state, members: [...state.members], seq: msg.seq });
  const m = msg.message;
  switch (m.case) {
    case "memberJoined":
      if (m.value.member && !next.members.some((x) => x.userId === m.value.member!.userId)) next.members.push(m.value.member);
      break;
    case "memberLeft":
      next.members = next.members.filter((x) => x.userId !== m.value.userId);
      break;
    case "djChanged":
      next.currentDjId = m.value.currentDjId;
      next.members = next.members.map((x) => create(MemberSchema, { ...x, isDj: x.userId === m.value.currentDjId }));
      break;
    case "memberSyncChanged":
      next.members = next.members.map((x) => (x.userId === m.value.userId ? create(MemberSchema, { ...x, sync: m.value.sync }) : x));
      break;
    case "playbackStarted":
    case "playbackChanged":
      if (m.value.state) next.playback = m.value.state;
      break;
    default:
      break;
  }
  return next;
}
