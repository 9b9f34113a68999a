import { create, toBinary, type DescMethod } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { ClientMessageSchema, GatewayService, SubscribeRequestSchema } from "../gen/groovebox/gateway/v1/gateway_pb.js";
import { PlaybackService, StartRequestSchema } from "../gen/groovebox/playback/v1/playback_pb.js";
import { guest, type Guest } from "./support/rooms-client.js";
import { createRawClient, envelope, type RawOutcome, type WireProtocol } from "./support/raw-rpc.js";
import { startStack, type Stack } from "./support/stack.js";

type RawClient = ReturnType<typeof createRawClient>;

/**
 * Malformed request bodies, and what every protocol must answer: INVALID_ARGUMENT for anything
 * that is not exactly the messages the method takes (connect-es said INTERNAL for undecodable
 * messages and compressed envelopes, UNIMPLEMENTED for a missing or extra message; the
 * gateway's gRPC path said UNIMPLEMENTED for compressed envelopes and OK for a truncated last
 * message), RESOURCE_EXHAUSTED over the size limit. Both stream paths: the gateway's own gRPC
 * path, and connect-es (Connect, gRPC-Web, and gRPC with the own path off).
 */
const cases: Array<[string, (valid: Uint8Array) => Buffer, { single: Code | 0; bidi: Code | 0 }]> = [
  ["a compressed envelope (no compression negotiated)", (v) => envelope(v, 1), { single: Code.InvalidArgument, bidi: Code.InvalidArgument }],
  ["an envelope with the trailer flag", (v) => envelope(v, 0x80), { single: Code.InvalidArgument, bidi: Code.InvalidArgument }],
  ["bytes that are no message", () => envelope(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), { single: Code.InvalidArgument, bidi: Code.InvalidArgument }],
  ["a field of the wrong wire type", () => envelope(Buffer.from([0x0d, 1, 2, 3, 4])), { single: Code.InvalidArgument, bidi: Code.InvalidArgument }],
  ["a last message cut short", (v) => envelope(v, 0, v.length + 10), { single: Code.InvalidArgument, bidi: Code.InvalidArgument }],
  ["half an envelope header", () => Buffer.from([0, 0, 0]), { single: Code.InvalidArgument, bidi: Code.InvalidArgument }],
  ["no message", () => Buffer.alloc(0), { single: Code.InvalidArgument, bidi: 0 }],
  ["two messages", (v) => Buffer.concat([envelope(v), envelope(v)]), { single: Code.InvalidArgument, bidi: 0 }],
  ["a length over the limit", () => envelope(Buffer.alloc(0), 0, 0x7fffffff), { single: Code.ResourceExhausted, bidi: Code.ResourceExhausted }],
  ["a message over the limit", () => envelope(Buffer.alloc(100_000, 0x0a)), { single: Code.ResourceExhausted, bidi: Code.ResourceExhausted }],
];

const paths: Array<[string, WireProtocol, boolean]> = [
  ["gRPC (the gateway's own path)", "grpc", true],
  ["gRPC through connect-es", "grpc", false],
  ["gRPC-Web", "grpc-web", true],
  ["Connect", "connect", true],
];

describe.each(paths)("malformed requests over %s", (_name, protocol, grpcFastPath) => {
  let stack: Stack;
  let raw: RawClient;
  let dj: Guest;
  let roomId: string;
  beforeAll(async () => {
    stack = await startStack({ gateway: { grpcFastPath } });
    raw = createRawClient(stack.gatewayUrls[0]!);
    dj = await guest(stack.gatewayUrls[0]!, "Ada");
    roomId = (await dj.rooms.createRoom({}, dj.auth)).state!.roomId;
  });
  afterAll(async () => {
    raw.close();
    await stack.stop();
  });

  const call = (method: DescMethod, body: Uint8Array): Promise<RawOutcome> =>
    raw.call({
      path: `/${method.parent.typeName}/${method.name}`,
      protocol,
      streaming: protocol !== "connect" || method.methodKind !== "unary",
      body,
      headers: { authorization: `Bearer ${dj.token}` },
    });

  it.each(cases)("%s", async (_case, body, expected) => {
    const start = toBinary(StartRequestSchema, create(StartRequestSchema, { roomId, trackId: "t" }));
    const subscribe = toBinary(SubscribeRequestSchema, create(SubscribeRequestSchema, { roomId }));
    const ping = toBinary(ClientMessageSchema, create(ClientMessageSchema, { message: { case: "ping", value: { seq: 1n, clientSendTimeMs: 1 } } }));
    const before = (await dj.playback.getPlayback({ roomId }, dj.auth)).state!.version;
    const got = {
      start: (await call(PlaybackService.method.start, body(start))).code,
      subscribe: (await call(GatewayService.method.subscribe, body(subscribe))).code,
      connect: (await call(GatewayService.method.connect, body(ping))).code,
    };
    // Connect's unary calls carry a bare message, not envelopes: they are tested in the fuzz suite.
    expect(got).toEqual({ start: protocol === "connect" ? got.start : expected.single, subscribe: expected.single, connect: expected.bidi });
    expect((await dj.playback.getPlayback({ roomId }, dj.auth)).state!.version).toBe(before);
  });
});
