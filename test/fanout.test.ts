import * as http2 from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { SubscribeRequestSchema } from "../gen/groovebox/gateway/v1/gateway_pb.js";
import { DjChangeReason, RoomEventSchema } from "../gen/groovebox/room/v1/room_pb.js";
import { roomKeys } from "../services/common/keys.js";
import { churnMembers, guest, joinOnStream, type Guest } from "./support/rooms-client.js";
import { inspectRedis, startStack, type Stack } from "./support/stack.js";
import { TestStream } from "./support/stream-client.js";

describe("fan-out across gateways", () => {
  let stack: Stack;
  let ada: Guest;
  let bob: Guest;
  let cat: Guest;
  const redis = inspectRedis();
  beforeAll(async () => {
    stack = await startStack({ gateways: 2 });
    const [gw0, gw1] = stack.gatewayUrls as [string, string];
    [ada, bob, cat] = await Promise.all([guest(gw0, "Ada"), guest(gw1, "Bob"), guest(gw1, "Cat")]);
  });
  afterAll(async () => {
    await stack.stop();
    redis.disconnect();
  });

  /** Ada (gateway 0), Bob and Cat (gateway 1) in one room, each on a stream. */
  async function roomOfThree() {
    const room = (await ada.rooms.createRoom({}, ada.auth)).state!;
    const streams = { ada: await ada.connect(), bob: await bob.connect(), cat: await cat.connect() };
    await joinOnStream(streams.ada, room.roomCode);
    await joinOnStream(streams.bob, room.roomCode);
    const catState = await joinOnStream(streams.cat, room.roomCode);
    return { room, streams, catState, close: () => Object.values(streams).forEach((s) => s.cancel()) };
  }

  it("delivers members' events to streams on either gateway, in order", async () => {
    const { room, streams, catState, close } = await roomOfThree();
    // Ada (gateway 0) sees Bob and Cat (gateway 1) arrive, in seq order.
    const j1 = await streams.ada.next("memberJoined");
    const j2 = await streams.ada.next("memberJoined");
    expect([j1.message.value.member!.userId, j2.message.value.member!.userId]).toEqual([bob.userId, cat.userId]);
    expect(j2.seq).toBe(j1.seq + 1n);
    expect(catState.seq).toBe(j2.seq);
    // Bob (gateway 1) sees Cat arrive after his own join.
    expect((await streams.bob.next("memberJoined")).message.value.member!.userId).toBe(cat.userId);

    // A burst of hand-offs made on gateway 0 reaches everyone in the same order.
    const djs = [bob, ada, bob, ada, bob, ada, bob, ada, bob, ada];
    let current = ada;
    for (const next of djs) {
      await current.rooms.setDj({ roomId: room.roomId, userId: next.userId }, current.auth);
      current = next;
    }
    for (const stream of Object.values(streams)) {
      let prev = catState.seq;
      const seen = [];
      for (let i = 0; i < djs.length; i++) {
        const ev = await stream.next("djChanged");
        expect(ev.seq).toBe(prev + 1n); // no gaps
        prev = ev.seq;
        seen.push(ev.message.value.currentDjId);
      }
      expect(seen).toEqual(djs.map((g) => g.userId));
    }
    const state = (await cat.rooms.getRoomState({ roomId: room.roomId }, cat.auth)).state!;
    expect(state.seq).toBe(catState.seq + BigInt(djs.length));
    close();
  });

  it("serves browsers the same events on Subscribe after a unary join", async () => {
    const room = (await ada.rooms.createRoom({}, ada.auth)).state!;
    await bob.rooms.joinRoom({ roomCode: room.roomCode }, bob.auth);
    const sub = TestStream.subscribe(bob.gateway, bob.token, room.roomId);
    expect((await sub.next("hello")).message.value.userId).toBe(bob.userId);
    const state = (await sub.next("roomState")).message.value;
    expect(state.members.find((m) => m.userId === bob.userId)!.connected).toBe(true);
    await ada.rooms.setDj({ roomId: room.roomId, userId: bob.userId }, ada.auth);
    const ev = await sub.next("djChanged");
    expect(ev.message.value).toMatchObject({ currentDjId: bob.userId, reason: DjChangeReason.HANDOFF });
    expect(ev.seq).toBe(state.seq + 1n);
    sub.cancel();

    const outsider = TestStream.subscribe(cat.gateway, cat.token, room.roomId);
    expect((await outsider.ended)?.code).toBe(Code.PermissionDenied);
    const bad = TestStream.subscribe(cat.gateway, cat.token, "bad{id}");
    expect((await bad.ended)?.code).toBe(Code.InvalidArgument);
  });

  it("refetches the room state for its streams when events go missing", async () => {
    const { room, streams, catState, close } = await roomOfThree();
    // An event whose seq skips ahead, as after events lost in a Redis failover.
    const lost = catState.seq + 5n;
    const event = toBinary(RoomEventSchema, create(RoomEventSchema, {
      roomId: room.roomId,
      event: { case: "djChanged", value: { previousDjId: ada.userId, currentDjId: ada.userId } },
    }));
    await redis.spublish(roomKeys.events(room.roomId), Buffer.concat([Buffer.from(`${lost}:`), event]));
    // The gateway reads the room's state once for its streams there, sends it, then the event.
    const fresh = await streams.cat.next("roomState");
    expect(fresh.requestId).toBe("");
    expect(fresh.message.value.members).toHaveLength(3);
    const gap = await streams.cat.next("djChanged");
    expect(gap.seq).toBe(lost);
    close();
  });
});

describe("slow streams", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ gateway: { outboundCapacity: 8 } });
  });
  afterAll(() => stack.stop());

  it("ends a stream that does not read with RESOURCE_EXHAUSTED instead of buffering for it", async () => {
    const gw = stack.gatewayUrls[0]!;
    const [ada, bob] = await Promise.all([guest(gw, "Ada"), guest(gw, "Bob")]);
    const room = (await ada.rooms.createRoom({}, ada.auth)).state!;
    await bob.rooms.joinRoom({ roomCode: room.roomCode }, bob.auth);
    const slow = stalledSubscribe(gw, bob.token, room.roomId);
    await slow.subscribed;
    // Events until the gateway gives up on the stream: more than the flow-control window,
    // Node's 16 KiB write buffer and the gateway's queue of 8 messages hold together end it.
    await churnMembers(gw, room, slow.closed);
    // Trailers cannot pass the data the client never read: the stream is reset with
    // ENHANCE_YOUR_CALM, which gRPC clients report as RESOURCE_EXHAUSTED.
    expect(await slow.ended).toEqual({ rstCode: http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, grpcStatus: undefined });
  });
});

/**
 * A Subscribe call over raw HTTP/2 with a tiny flow-control window whose client reads
 * nothing: the server cannot write to it.
 */
function stalledSubscribe(baseUrl: string, token: string, roomId: string) {
  const session = http2.connect(baseUrl, { settings: { initialWindowSize: 256 } });
  const body = toBinary(SubscribeRequestSchema, create(SubscribeRequestSchema, { roomId }));
  const frame = Buffer.alloc(5 + body.length);
  frame.writeUInt32BE(body.length, 1);
  frame.set(body, 5);
  const req = session.request({
    ":method": "POST",
    ":path": "/groovebox.gateway.v1.GatewayService/Subscribe",
    "content-type": "application/grpc+proto",
    te: "trailers",
    authorization: `Bearer ${token}`,
  });
  req.pause();
  req.end(frame);
  let grpcStatus: string | undefined;
  let closed = false;
  req.on("trailers", (t) => (grpcStatus = t["grpc-status"] as string));
  // A reset arrives as an error ("Stream closed with error code ..."), then "close".
  req.on("error", () => undefined);
  return {
    subscribed: new Promise<void>((resolve) => req.once("response", () => resolve())),
    closed: () => closed,
    /** How the call ended: its RST_STREAM code and grpc-status (if trailers arrived). */
    ended: new Promise<{ rstCode: number; grpcStatus: string | undefined }>((resolve) =>
      req.on("close", () => {
        closed = true;
        session.close();
        resolve({ rstCode: req.rstCode, grpcStatus });
      }),
    ),
  };
}
