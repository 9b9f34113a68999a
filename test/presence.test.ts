import { Code } from "@connectrpc/connect";
import { DjChangeReason, LeaveReason } from "../gen/groovebox/room/v1/room_pb.js";
import { ManualClock } from "../services/common/clock-source.js";
import { roomKeys } from "../services/common/keys.js";
import { eventually } from "./support/eventually.js";
import { captureLogs } from "./support/log-capture.js";
import { guest, type Guest } from "./support/rooms-client.js";
import { inspectRedis, startStack, type Stack } from "./support/stack.js";
import { TestStream } from "./support/stream-client.js";

const MINUTE = 60_000;
const GRACE = 30_000;
const IDLE = 10 * MINUTE;

describe("presence of members who use unary calls", () => {
  const clock = new ManualClock(1_900_000_000_000);
  const logs = captureLogs();
  const redis = inspectRedis();
  let stack: Stack;
  let gw: string;
  let ada: Guest;
  let bob: Guest;
  beforeAll(async () => {
    // Gateways renew their streams' leases on real time; the rooms service's time leaps ahead.
    const leaseMs = 24 * 60 * MINUTE;
    stack = await startStack({ roomsClock: clock, rooms: { graceMs: GRACE, idleMs: IDLE, leaseMs }, logger: logs.logger });
    gw = stack.gatewayUrls[0]!;
    [ada, bob] = await Promise.all([guest(gw, "Ada"), guest(gw, "Bob")]);
  });
  afterAll(async () => {
    await stack.stop();
    redis.disconnect();
  });

  /** Moves the rooms service's time on and lets the sweeper act on it. */
  async function after(ms: number): Promise<void> {
    clock.advance(ms);
    await stack.rooms.sweeper.runOnce();
  }

  const stateOf = async (g: Guest, roomId: string) => (await g.rooms.getRoomState({ roomId }, g.auth)).state!;

  /** A member's Subscribe to the room, once it is attached. */
  async function follow(g: Guest, roomId: string): Promise<TestStream> {
    const sub = TestStream.subscribe(gw, g.token, roomId);
    await sub.next("roomState");
    return sub;
  }

  /** Ada creates a room; Bob joins with a call and follows it with Subscribe. */
  async function roomWithListener() {
    const room = (await ada.rooms.createRoom({ name: "Friday" }, ada.auth)).state!;
    await bob.rooms.joinRoom({ roomCode: room.roomCode }, bob.auth);
    return { room, sub: await follow(bob, room.roomId) };
  }

  it("keeps a DJ who uses only unary calls, typed a minute apart", async () => {
    const room = (await ada.rooms.createRoom({ name: "Friday" }, ada.auth)).state!;
    await after(MINUTE);
    await bob.rooms.joinRoom({ roomCode: room.roomCode }, bob.auth);
    await after(MINUTE);
    const sub = await follow(bob, room.roomId);
    await after(MINUTE);
    const started = await ada.playback.start({ roomId: room.roomId, trackId: "song-42", positionMs: 30_000 }, ada.auth);
    expect(started.trackId).toBe("song-42");
    await after(MINUTE);
    await ada.playback.pause({ roomId: room.roomId }, ada.auth);
    await after(MINUTE);
    await bob.playback.getPlayback({ roomId: room.roomId }, bob.auth);

    const state = await stateOf(bob, room.roomId);
    expect(state.currentDjId).toBe(ada.userId);
    expect(state.members.map((m) => [m.userId, m.connected])).toEqual([
      [ada.userId, false],
      [bob.userId, true],
    ]);
    expect(logs.find("member timed out", { roomId: room.roomId })).toEqual([]);
    sub.cancel();
  });

  it("lets a member go when the idle period after their last call passes, and the next member becomes DJ", async () => {
    const { room, sub } = await roomWithListener();
    await ada.playback.getPlayback({ roomId: room.roomId }, ada.auth);
    await after(IDLE - 1);
    expect((await stateOf(bob, room.roomId)).currentDjId).toBe(ada.userId);

    await after(2);
    expect((await sub.next("memberLeft")).message.value).toMatchObject({ userId: ada.userId, reason: LeaveReason.TIMED_OUT });
    expect((await sub.next("djChanged")).message.value).toMatchObject({
      previousDjId: ada.userId,
      currentDjId: bob.userId,
      reason: DjChangeReason.SUCCESSION,
    });
    // Bob's own last call is as old, but his Subscribe keeps him.
    expect((await stateOf(bob, room.roomId)).members.map((m) => m.userId)).toEqual([bob.userId]);
    expect(logs.find("member timed out", { service: "rooms", roomId: room.roomId, userId: ada.userId })).toHaveLength(1);
    expect(
      logs.find("dj changed", { service: "rooms", roomId: room.roomId, previousDjId: ada.userId, djId: bob.userId, reason: "succession" }),
    ).toHaveLength(1);
    sub.cancel();
  });

  it("keeps a member whose Subscribe dropped for the idle period after their last call", async () => {
    const { room, sub } = await roomWithListener();
    const adaWatch = await follow(ada, room.roomId);
    await after(MINUTE);
    sub.cancel();
    await sub.ended;
    await eventuallyState(room.roomId, (s) => s.members.find((m) => m.userId === bob.userId)?.connected === false);
    await after(GRACE + 1);
    await bob.playback.getPlayback({ roomId: room.roomId }, bob.auth); // a call: another idle period from now
    await after(IDLE - 1);
    expect((await stateOf(ada, room.roomId)).members.map((m) => m.userId)).toEqual([ada.userId, bob.userId]);
    await after(2);
    expect((await adaWatch.next("memberLeft")).message.value).toMatchObject({ userId: bob.userId, reason: LeaveReason.TIMED_OUT });
    adaWatch.cancel();
  });

  it("lets a member whose last call is long past go a grace period after their stream drops", async () => {
    const { room, sub } = await roomWithListener();
    const adaWatch = await follow(ada, room.roomId);
    await after(IDLE + 1);
    const held = await stateOf(ada, room.roomId);
    expect(held.members.find((m) => m.userId === bob.userId)?.connected).toBe(true);
    // Passed deadlines of members with a stream are cleared, not kept for later.
    expect(await redis.zscore(roomKeys.leaving(room.roomId), bob.userId)).toBeNull();

    sub.cancel();
    await eventuallyState(room.roomId, (s) => s.members.find((m) => m.userId === bob.userId)?.connected === false);
    await after(GRACE - 1);
    expect((await stateOf(ada, room.roomId)).members).toHaveLength(2);
    await after(2);
    expect((await adaWatch.next("memberLeft")).message.value).toMatchObject({ userId: bob.userId, reason: LeaveReason.TIMED_OUT });
    expect(logs.find("member timed out", { roomId: room.roomId, userId: bob.userId })).toHaveLength(1);
    adaWatch.cancel();
  });

  it("does not make a caller who is not a member one", async () => {
    const eve = await guest(gw, "Eve");
    const room = (await ada.rooms.createRoom({}, ada.auth)).state!;
    await expect(eve.playback.getPlayback({ roomId: room.roomId }, eve.auth)).rejects.toMatchObject({ code: Code.PermissionDenied });
    await expect(eve.rooms.getRoomState({ roomId: room.roomId }, eve.auth)).rejects.toMatchObject({ code: Code.PermissionDenied });
    expect((await stateOf(ada, room.roomId)).members.map((m) => m.userId)).toEqual([ada.userId]);
    expect(await redis.zscore(roomKeys.leaving(room.roomId), eve.userId)).toBeNull();
  });

  it("logs a refused command once, with the room and the user", async () => {
    const { room, sub } = await roomWithListener();
    await expect(bob.playback.start({ roomId: room.roomId, trackId: "song-1" }, bob.auth)).rejects.toMatchObject({
      code: Code.PermissionDenied,
    });
    const refused = logs.find("request refused", { roomId: room.roomId });
    expect(refused).toEqual([expect.objectContaining({ service: "playback", userId: bob.userId, code: "PermissionDenied", rpc: "Start" })]);
    sub.cancel();
  });

  /** The room state (as Ada) once `ok` holds: the gateway detaches streams asynchronously. */
  const eventuallyState = (roomId: string, ok: (s: Awaited<ReturnType<typeof stateOf>>) => boolean) =>
    eventually(async () => {
      const state = await stateOf(ada, roomId);
      return ok(state) ? state : undefined;
    });
});
