import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ServerMessageSchema } from "../../../gen/groovebox/gateway/v1/gateway_pb.js";
import { RoomStateSchema } from "../../../gen/groovebox/room/v1/room_pb.js";
import { applyRoomEvent } from "./room-view.js";

const event = (seq: bigint, message: MessageInitShape<typeof ServerMessageSchema>["message"]) => create(ServerMessageSchema, { seq, message });

describe("applyRoomEvent", () => {
  it("keeps each member's connected flag as their streams attach and drop", () => {
    const state = create(RoomStateSchema, {
      roomId: "r",
      seq: 3n,
      members: [
        { userId: "ada", displayName: "Ada", isDj: true, connected: true },
        { userId: "bob", displayName: "Bob", connected: false },
      ],
    });
    const live = applyRoomEvent(state, event(4n, { case: "memberPresenceChanged", value: { userId: "bob", connected: true } }));
    expect(live.members.map((m) => [m.userId, m.connected])).toEqual([
      ["ada", true],
      ["bob", true],
    ]);
    expect(live.seq).toBe(4n);
    const away = applyRoomEvent(live, event(5n, { case: "memberPresenceChanged", value: { userId: "ada", connected: false } }));
    expect(away.members.map((m) => [m.userId, m.connected, m.isDj])).toEqual([
      ["ada", false, true],
      ["bob", true, false],
    ]);
    // The state before each event is left as it was.
    expect(state.members.map((m) => m.connected)).toEqual([true, false]);
    const joined = applyRoomEvent(away, event(6n, { case: "memberJoined", value: { member: { userId: "cat", displayName: "Cat", connected: true } } }));
    expect(joined.members.at(-1)).toMatchObject({ userId: "cat", connected: true });
  });
});
