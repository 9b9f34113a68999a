import { create } from "@bufbuild/protobuf";
import type { ServerMessage } from "../../../gen/groovebox/gateway/v1/gateway_pb.js";
import { MemberSchema, RoomStateSchema, type Member, type RoomState } from "../../../gen/groovebox/room/v1/room_pb.js";

/**
 * The room's state after one of its events: members join and leave, the DJ changes, a
 * member's streams attach or drop (Member.connected), their sync quality changes, the timeline
 * moves. Returns a new object (the old one is left as it was), with seq set to the
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
      next.members = withMember(next.members, m.value.userId, { sync: m.value.sync });
      break;
    case "memberPresenceChanged":
      next.members = withMember(next.members, m.value.userId, { connected: m.value.connected });
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

/** The members with one member's fields changed (a new Member object; the others as they were). */
function withMember(members: Member[], userId: string, change: Partial<Pick<Member, "connected" | "sync">>): Member[] {
  return members.map((x) => (x.userId === userId ? create(MemberSchema, { ...x, ...change }) : x));
}
