import { Code } from "@connectrpc/connect";
import { DjChangeReason, LeaveReason } from "../gen/groovebox/room/v1/room_pb.js";
import { ErrorCode } from "../gen/groovebox/gateway/v1/gateway_pb.js";
import { ManualClock } from "../services/common/clock-source.js";
import { codeKey, roomKeys } from "../services/common/keys.js";
import { eventually, WAIT_MS } from "./support/eventually.js";
import { guest, joinOnStream, type Guest } from "./support/rooms-client.js";
import { inspectRedis, startStack, type Stack } from "./support/stack.js";
import { login } from "./support/stream-client.js";

describe("rooms: create, join, leave, DJ", () => {
  let stack: Stack;
  let gw: string;
  const redis = inspectRedis();
  beforeAll(async () => {
    stack = await startStack();
    gw = stack.gatewayUrls[0]!;
  });
  afterAll(async () => {
    await stack.stop();
    redis.disconnect();
  });

  it("creates a room with its creator as DJ and a human-friendly code", async () => {
    const ada = await guest(gw, "Ada");
    const { state } = await ada.rooms.createRoom({ name: "  Friday night  " }, ada.auth);
    expect(state!.roomCode).toMatch(/^[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{6}$/);
    expect(state!.name).toBe("Friday night");
    expect(state!.currentDjId).toBe(ada.userId);
    expect(state!.members).toEqual([expect.objectContaining({ userId: ada.userId, displayName: "Ada", isDj: true, connected: false })]);
    expect(state!.seq).toBe(0n);
    expect(await redis.get(roomKeys.currentDj(state!.roomId))).toBe(ada.userId);
  });

  it("joins by code as people type it, and leaves", async () => {
    const ada = await guest(gw, "Ada");
    const bob = await guest(gw, "Bob");
    const created = (await ada.rooms.createRoom({}, ada.auth)).state!;
    const typed = ` ${created.roomCode.slice(0, 3).toLowerCase()}-${created.roomCode.slice(3)} `;
    const joined = (await bob.rooms.joinRoom({ roomCode: typed }, bob.auth)).state!;
    expect(joined.roomId).toBe(created.roomId);
    expect(joined.members.map((m) => m.userId)).toEqual([ada.userId, bob.userId]);
    expect(joined.seq).toBe(1n); // member_joined
    // Joining again changes nothing.
    const again = (await bob.rooms.joinRoom({ roomCode: created.roomCode }, bob.auth)).state!;
    expect(again.members).toHaveLength(2);
    expect(again.seq).toBe(1n);

    await bob.rooms.leaveRoom({ roomId: created.roomId }, bob.auth);
    const after = (await ada.rooms.getRoomState({ roomId: created.roomId }, ada.auth)).state!;
    expect(after.members.map((m) => m.userId)).toEqual([ada.userId]);
    await expect(bob.rooms.getRoomState({ roomId: created.roomId }, bob.auth)).rejects.toMatchObject({ code: Code.PermissionDenied });
    await expect(bob.rooms.leaveRoom({ roomId: created.roomId }, bob.auth)).rejects.toMatchObject({ code: Code.FailedPrecondition });
  });

  it("gives concurrent creations distinct codes", async () => {
    const ada = await guest(gw, "Ada");
    const states = await Promise.all(Array.from({ length: 100 }, () => ada.rooms.createRoom({}, ada.auth).then((r) => r.state!)));
    expect(new Set(states.map((s) => s.roomCode)).size).toBe(100);
    expect(new Set(states.map((s) => s.roomId)).size).toBe(100);
    for (const s of states.slice(0, 10)) expect(await redis.get(codeKey(s.roomCode))).toBe(s.roomId);
  });

  it("hands the DJ role over, to members only, by the DJ only", async () => {
    const ada = await guest(gw, "Ada");
    const bob = await guest(gw, "Bob");
    const eve = await guest(gw, "Eve");
    const room = (await ada.rooms.createRoom({}, ada.auth)).state!;
    await bob.rooms.joinRoom({ roomCode: room.roomCode }, bob.auth);
    const adaStream = await ada.connect();
    await joinOnStream(adaStream, room.roomCode);

    await expect(bob.rooms.setDj({ roomId: room.roomId, userId: bob.userId }, bob.auth)).rejects.toMatchObject({
      code: Code.PermissionDenied,
    });
    await expect(ada.rooms.setDj({ roomId: room.roomId, userId: eve.userId }, ada.auth)).rejects.toMatchObject({
      code: Code.FailedPrecondition,
    });
    const { state } = await ada.rooms.setDj({ roomId: room.roomId, userId: bob.userId }, ada.auth);
    expect(state!.currentDjId).toBe(bob.userId);
    expect(state!.members.find((m) => m.userId === bob.userId)!.isDj).toBe(true);
    const changed = await adaStream.next("djChanged");
    expect(changed.message.value).toMatchObject({
      previousDjId: ada.userId,
      currentDjId: bob.userId,
      reason: DjChangeReason.HANDOFF,
    });
    expect(changed.seq).toBe(state!.seq);
    adaStream.cancel();
  });

  it("passes the DJ role to the longest-present member when the DJ leaves", async () => {
    const [ada, bob, cat] = await Promise.all(["Ada", "Bob", "Cat"].map((n) => guest(gw, n)));
    const room = (await ada!.rooms.createRoom({}, ada!.auth)).state!;
    await bob!.rooms.joinRoom({ roomCode: room.roomCode }, bob!.auth);
    await cat!.rooms.joinRoom({ roomCode: room.roomCode }, cat!.auth);
    const catStream = await cat!.connect();
    await joinOnStream(catStream, room.roomCode);

    await ada!.rooms.leaveRoom({ roomId: room.roomId }, ada!.auth);
    const left = await catStream.next("memberLeft");
    expect(left.message.value).toMatchObject({ userId: ada!.userId, reason: LeaveReason.LEFT });
    const dj = await catStream.next("djChanged");
    expect(dj.message.value).toMatchObject({ previousDjId: ada!.userId, currentDjId: bob!.userId, reason: DjChangeReason.SUCCESSION });
    expect(dj.seq).toBe(left.seq + 1n);
    catStream.cancel();
  });

  it("tells a member's stream when they leave from another device", async () => {
    const ada = await guest(gw, "Ada");
    const room = (await ada.rooms.createRoom({}, ada.auth)).state!;
    const stream = await ada.connect();
    await joinOnStream(stream, room.roomCode);
    await ada.rooms.leaveRoom({ roomId: room.roomId }, ada.auth);
    const out = await stream.next("roomLeft");
    expect(out.message.value).toMatchObject({ roomId: room.roomId, reason: LeaveReason.LEFT });
    const answer = await stream.request({ requestId: "s1", message: { case: "getRoomState", value: {} } });
    expect(answer.message).toMatchObject({ case: "error", value: { code: ErrorCode.FAILED_PRECONDITION } });
    stream.cancel();
  });

  it("answers leave_room with one room_left", async () => {
    const ada = await guest(gw, "Ada");
    const bob = await guest(gw, "Bob");
    const room = (await ada.rooms.createRoom({}, ada.auth)).state!;
    const stream = await bob.connect();
    await joinOnStream(stream, room.roomCode);
    const leave = await stream.request({ requestId: "leave", message: { case: "leaveRoom", value: {} } });
    expect(leave.message).toMatchObject({ case: "roomLeft", value: { roomId: room.roomId, reason: LeaveReason.LEFT } });
    // Anything else the gateway sent about the leave was queued before its answer: nothing left now.
    await expect(stream.next("roomLeft", 0)).rejects.toThrow(/no roomLeft/);
    stream.cancel();
  });

  it("moves a stream between rooms: joining another leaves the first", async () => {
    const ada = await guest(gw, "Ada");
    const bob = await guest(gw, "Bob");
    const first = (await ada.rooms.createRoom({}, ada.auth)).state!;
    const second = (await ada.rooms.createRoom({}, ada.auth)).state!;
    const bobStream = await bob.connect();
    await joinOnStream(bobStream, first.roomCode);
    const adaStream = await ada.connect();
    await joinOnStream(adaStream, first.roomCode);
    await joinOnStream(bobStream, second.roomCode);
    const left = await adaStream.next("memberLeft");
    expect(left.message.value).toMatchObject({ userId: bob.userId, reason: LeaveReason.LEFT });
    const leave = await bobStream.request({ requestId: "l1", message: { case: "leaveRoom", value: {} } });
    expect(leave.message).toMatchObject({ case: "roomLeft", value: { roomId: second.roomId, reason: LeaveReason.LEFT } });
    adaStream.cancel();
    bobStream.cancel();
  });

  it("cleans up after a stream that goes away in the middle of joining", async () => {
    const ada = await guest(gw, "Ada");
    const bob = await guest(gw, "Bob");
    const room = (await ada.rooms.createRoom({}, ada.auth)).state!;
    const stream = await bob.connect();
    await stream.send({ requestId: "j", message: { case: "joinRoom", value: { roomCode: room.roomCode } } });
    stream.cancel(); // the join is on its way to the rooms service
    await stream.ended;
    // Whether or not the join got there first, Bob ends with no stream in the room.
    await eventually(
      async () => {
        const state = (await ada.rooms.getRoomState({ roomId: room.roomId }, ada.auth)).state!;
        const sessions = await redis.zcard(roomKeys.sessions(room.roomId));
        return sessions === 0 && !state.members.some((m) => m.userId === bob.userId && m.connected) ? true : undefined;
      },
      WAIT_MS,
      "the cancelled stream detached",
    );
  });

  it("answers bad input with the right code and writes nothing", async () => {
    const ada = await guest(gw, "Ada");
    await expect(ada.rooms.joinRoom({ roomCode: "ZZZZZZ" }, ada.auth)).rejects.toMatchObject({ code: Code.NotFound });
    await expect(ada.rooms.joinRoom({ roomCode: "nope" }, ada.auth)).rejects.toMatchObject({ code: Code.InvalidArgument });
    await expect(ada.rooms.joinRoom({ roomCode: "" }, ada.auth)).rejects.toMatchObject({ code: Code.InvalidArgument });
    await expect(ada.rooms.createRoom({ name: "x".repeat(61) }, ada.auth)).rejects.toMatchObject({ code: Code.InvalidArgument });
    await expect(ada.rooms.createRoom({ name: "bell\u0007" }, ada.auth)).rejects.toMatchObject({ code: Code.InvalidArgument });
    await expect(ada.rooms.getRoomState({ roomId: "no{such}" }, ada.auth)).rejects.toMatchObject({ code: Code.InvalidArgument });
    await expect(ada.rooms.getRoomState({ roomId: "nosuchroom" }, ada.auth)).rejects.toMatchObject({ code: Code.NotFound });
    await expect(ada.rooms.createRoom({}, { headers: { authorization: "Bearer junk" } })).rejects.toMatchObject({
      code: Code.Unauthenticated,
    });
    await expect(ada.rooms.createRoom({})).rejects.toMatchObject({ code: Code.Unauthenticated });
    await expect(login(gw, "   ")).rejects.toMatchObject({ code: Code.InvalidArgument });
    await expect(login(gw, "n".repeat(41))).rejects.toMatchObject({ code: Code.InvalidArgument });
    expect(await redis.exists(roomKeys.meta("nosuchroom"))).toBe(0);
  });
});

describe("rooms: presence and the grace period", () => {
  const clock = new ManualClock(1_800_000_000_000);
  const GRACE = 5_000;
  const IDLE = 20_000;
  let stack: Stack;
  let gw: string;
  let ada: Guest;
  let bob: Guest;
  beforeAll(async () => {
    stack = await startStack({ roomsClock: clock, rooms: { graceMs: GRACE, idleMs: IDLE, leaseMs: 60_000 } });
    gw = stack.gatewayUrls[0]!;
    [ada, bob] = await Promise.all([guest(gw, "Ada"), guest(gw, "Bob")]);
  });
  afterAll(() => stack.stop());

  const sweep = () => stack.rooms.sweeper.runOnce();

  it("keeps a member whose stream dropped for the grace period, then lets them go", async () => {
    const room = (await ada.rooms.createRoom({}, ada.auth)).state!;
    const adaStream = await ada.connect();
    await joinOnStream(adaStream, room.roomCode);
    const bobStream = await bob.connect();
    const joined = await joinOnStream(bobStream, room.roomCode);
    expect(joined.members.every((m) => m.connected)).toBe(true);

    bobStream.cancel();
    await bobStream.ended;
    // The gateway detaches the stream asynchronously; the member stays, disconnected.
    const inGrace = await waitForState(ada, room.roomId, (s) => s.members.find((m) => m.userId === bob.userId)?.connected === false);
    expect(inGrace.members).toHaveLength(2);

    clock.advance(GRACE - 1);
    await sweep();
    expect((await ada.rooms.getRoomState({ roomId: room.roomId }, ada.auth)).state!.members).toHaveLength(2);

    clock.advance(2);
    await sweep();
    const left = await adaStream.next("memberLeft");
    expect(left.message.value).toMatchObject({ userId: bob.userId, reason: LeaveReason.TIMED_OUT });
    adaStream.cancel();
  });

  it("does not flap when a member reconnects within the grace period", async () => {
    const room = (await ada.rooms.createRoom({}, ada.auth)).state!;
    const adaStream = await ada.connect();
    const start = await joinOnStream(adaStream, room.roomCode);
    const first = await bob.connect();
    await joinOnStream(first, room.roomCode);
    first.cancel();
    await waitForState(ada, room.roomId, (s) => s.members.find((m) => m.userId === bob.userId)?.connected === false);
    clock.advance(GRACE / 2);
    const second = await bob.connect();
    const back = await joinOnStream(second, room.roomCode);
    expect(back.members.find((m) => m.userId === bob.userId)!.connected).toBe(true);
    clock.advance(GRACE);
    await sweep();
    const state = (await ada.rooms.getRoomState({ roomId: room.roomId }, ada.auth)).state!;
    expect(state.members.map((m) => m.userId)).toEqual([ada.userId, bob.userId]);
    // Only Bob's first join happened (no member_left, no second member_joined); the room heard
    // his stream drop and come back.
    expect(state.seq).toBe(start.seq + 3n);
    expect((await adaStream.next("memberJoined")).message.value.member!.userId).toBe(bob.userId);
    const presence = [await adaStream.next("memberPresenceChanged"), await adaStream.next("memberPresenceChanged")];
    expect(presence.map((e) => [e.message.value.userId, e.message.value.connected, e.seq])).toEqual([
      [bob.userId, false, start.seq + 2n],
      [bob.userId, true, start.seq + 3n],
    ]);
    adaStream.cancel();
    second.cancel();
  });

  it("lets a member who joined by a call but never attached a stream go after the idle period", async () => {
    const room = (await ada.rooms.createRoom({}, ada.auth)).state!;
    const adaStream = await ada.connect();
    await joinOnStream(adaStream, room.roomCode);
    await bob.rooms.joinRoom({ roomCode: room.roomCode }, bob.auth);
    clock.advance(IDLE - 1);
    await sweep();
    expect((await ada.rooms.getRoomState({ roomId: room.roomId }, ada.auth)).state!.members).toHaveLength(2);
    clock.advance(2);
    await sweep();
    expect((await adaStream.next("memberLeft")).message.value).toMatchObject({ userId: bob.userId, reason: LeaveReason.TIMED_OUT });
    adaStream.cancel();
  });

  it("expires a stream whose gateway stopped renewing it", async () => {
    const room = (await ada.rooms.createRoom({}, ada.auth)).state!;
    const adaStream = await ada.connect();
    await joinOnStream(adaStream, room.roomCode);
    // Bob's gateway "crashed": his session is attached but never renewed or detached.
    await stack.rooms.store.attach(room.roomId, { sessionId: "crashed-session", userId: bob.userId, displayName: "Bob", mustBeMember: false }, clock.now());
    await adaStream.next("memberJoined");
    clock.advance(60_001); // the lease runs out (Ada's stream is renewed below, as its gateway would)
    await stack.rooms.store.renew(room.roomId, [adaStream.sessionId], clock.now() - 1);
    await sweep();
    clock.advance(GRACE + 1);
    await sweep();
    expect((await adaStream.next("memberLeft")).message.value).toMatchObject({ userId: bob.userId, reason: LeaveReason.TIMED_OUT });
    adaStream.cancel();
  });
});

/** Reads the room state until `ok` holds (the gateway detaches streams asynchronously). */
async function waitForState(
  g: Guest,
  roomId: string,
  ok: (s: NonNullable<Awaited<ReturnType<Guest["rooms"]["getRoomState"]>>["state"]>) => boolean,
) {
  return eventually(
    async () => {
      const state = (await g.rooms.getRoomState({ roomId }, g.auth)).state!;
      return ok(state) ? state : undefined;
    },
    WAIT_MS,
    "the room state",
  );
}
