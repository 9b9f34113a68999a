import { Code } from "@connectrpc/connect";
import { ErrorCode } from "../gen/groovebox/gateway/v1/gateway_pb.js";
import { LeaveReason } from "../gen/groovebox/room/v1/room_pb.js";
import { guest, joinOnStream } from "./support/rooms-client.js";
import { startStack, type Stack } from "./support/stack.js";
import { TestStream, type Protocol } from "./support/stream-client.js";

// gRPC streams take the gateway's own path; Connect and gRPC-Web go through connect-es. Both
// must behave the same, and both must with the gRPC path switched off.
const cases: Array<[string, Protocol, boolean]> = [
  ["gRPC (the gateway's own path)", "grpc", true],
  ["gRPC through connect-es", "grpc", false],
  ["Connect", "connect", true],
  ["gRPC-Web", "grpc-web", true],
];

describe.each(cases)("gateway streams over %s", (_name, protocol, grpcFastPath) => {
  let stack: Stack;
  let gw: string;
  beforeAll(async () => {
    stack = await startStack({ gateway: { grpcFastPath } });
    gw = stack.gatewayUrls[0]!;
  });
  afterAll(() => stack.stop());

  it("greets, answers pings and requests, and delivers room events", async () => {
    const [ada, bob] = await Promise.all([guest(gw, "Ada"), guest(gw, "Bob")]);
    const stream = await ada.connect(protocol);
    await stream.send({ message: { case: "ping", value: { seq: 7n, clientSendTimeMs: 1 } } });
    const pong = (await stream.next("pong")).message.value;
    expect(pong.seq).toBe(7n);
    expect(pong.serverSendTimeMs).toBeGreaterThanOrEqual(pong.serverReceiveTimeMs);

    const room = (await ada.rooms.createRoom({}, ada.auth)).state!;
    const state = await joinOnStream(stream, room.roomCode);
    expect(state.roomId).toBe(room.roomId);
    await bob.rooms.joinRoom({ roomCode: room.roomCode }, bob.auth);
    const joined = await stream.next("memberJoined");
    expect(joined.message.value.member!.userId).toBe(bob.userId);
    expect(joined.seq).toBe(state.seq + 1n);

    const bad = await stream.request({ requestId: "bad", message: { case: "leaveRoom", value: {} } });
    expect(bad.message.case).toBe("roomLeft");
    const none = await stream.request({ requestId: "none" });
    expect(none.message).toMatchObject({ case: "error", value: { code: ErrorCode.INVALID_ARGUMENT } });
    stream.end();
    expect(await stream.ended).toBeUndefined();
  });

  it("serves Subscribe", async () => {
    const ada = await guest(gw, "Ada");
    const room = (await ada.rooms.createRoom({}, ada.auth)).state!;
    const sub = TestStream.subscribe(gw, ada.token, room.roomId, protocol);
    expect((await sub.next("hello")).message.value.userId).toBe(ada.userId);
    expect((await sub.next("roomState")).message.value.roomId).toBe(room.roomId);
    await ada.rooms.leaveRoom({ roomId: room.roomId }, ada.auth);
    expect((await sub.next("roomLeft")).message.value.reason).toBe(LeaveReason.LEFT);
    sub.cancel();
  });

  it("refuses a stream without a valid token", async () => {
    expect((await TestStream.connect(gw, "junk", protocol).ended)?.code).toBe(Code.Unauthenticated);
  });

  it("releases everything of a stream the client drops", async () => {
    const ada = await guest(gw, "Ada");
    const room = (await ada.rooms.createRoom({}, ada.auth)).state!;
    const first = await ada.connect(protocol);
    await joinOnStream(first, room.roomCode);
    first.cancel();
    await first.ended;
    // The member stays in the grace period, without streams.
    const deadline = Date.now() + 5000;
    for (;;) {
      const state = (await ada.rooms.getRoomState({ roomId: room.roomId }, ada.auth)).state!;
      if (!state.members[0]!.connected) break;
      if (Date.now() > deadline) throw new Error("the stream was never detached");
      await new Promise((r) => setTimeout(r, 20));
    }
  });
});

describe("gateway shutdown", () => {
  it("ends open streams with UNAVAILABLE, over either path", async () => {
    const stack = await startStack();
    const gw = stack.gatewayUrls[0]!;
    const ada = await guest(gw, "Ada");
    const streams = [await ada.connect("grpc"), await ada.connect("connect")];
    await stack.stop();
    for (const s of streams) expect((await s.ended)?.code).toBe(Code.Unavailable);
  });
});
