import * as http2 from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { SubscribeRequestSchema } from "../gen/groovebox/gateway/v1/gateway_pb.js";
import { churnMembers, guest } from "./support/rooms-client.js";
import { startStack, type Stack } from "./support/stack.js";

/**
 * A Subscribe call over raw HTTP/2 with a tiny flow-control window whose client reads nothing
 * until ended() is called, so the server cannot write to it. `contentType` picks the protocol.
 */
function stalledSubscribe(baseUrl: string, token: string, roomId: string, contentType: string) {
  const session = http2.connect(baseUrl, { settings: { initialWindowSize: 256 } });
  session.on("error", () => undefined);
  const body = toBinary(SubscribeRequestSchema, create(SubscribeRequestSchema, { roomId }));
  const envelope = Buffer.alloc(5 + body.length);
  envelope.writeUInt32BE(body.length, 1);
  envelope.set(body, 5);
  const req = session.request({
    ":method": "POST",
    ":path": "/groovebox.gateway.v1.GatewayService/Subscribe",
    "content-type": contentType,
    authorization: `Bearer ${token}`,
  });
  req.on("error", () => undefined);
  req.pause();
  req.end(envelope);
  let isClosed = false;
  const closed = new Promise<number>((resolve) =>
    req.on("close", () => {
      isClosed = true;
      resolve(req.rstCode ?? 0);
    }),
  );
  return {
    subscribed: new Promise<void>((resolve) => req.once("response", () => resolve())),
    closed: () => isClosed,
    /**
     * Resolves with the RST_STREAM code the stream ends with, still reading nothing: a client
     * that does not read can only learn its stream's fate from a reset.
     */
    async ended(): Promise<number> {
      const code = await closed;
      session.close();
      return code;
    },
  };
}

// gRPC (the gateway's own path) is covered in fanout.test.ts.
describe.each([
  ["Connect", "application/connect+proto"],
  ["gRPC-Web", "application/grpc-web+proto"],
])("a %s stream that never reads", (_name, contentType) => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ gateway: { outboundCapacity: 8 } });
  });
  afterAll(() => stack.stop());

  it("is reset with ENHANCE_YOUR_CALM (RESOURCE_EXHAUSTED for Connect clients) instead of staying open", async () => {
    const gw = stack.gatewayUrls[0]!;
    const [ada, bob] = await Promise.all([guest(gw, "Ada"), guest(gw, "Bob")]);
    const room = (await ada.rooms.createRoom({}, ada.auth)).state!;
    await bob.rooms.joinRoom({ roomCode: room.roomCode }, bob.auth);
    const slow = stalledSubscribe(gw, bob.token, room.roomId, contentType);
    await slow.subscribed;
    // Events until the gateway resets the stream: more than the flow-control window, Node's
    // write buffer and the gateway's queue of 8 messages hold together.
    await churnMembers(gw, room, slow.closed);
    expect(await slow.ended()).toBe(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    // The user's place is free again: the stream was released.
    const again = await bob.connect("connect");
    again.cancel();
  });
});
