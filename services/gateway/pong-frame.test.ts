import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { ServerMessageSchema } from "../../gen/groovebox/gateway/v1/gateway_pb.js";
import { encodeFrame } from "./grpc-wire.js";
import { pongFrame, type PongFields } from "./pong-frame.js";

/** What protobuf-es makes of the same pong. */
const reference = (requestId: string, pong: PongFields) =>
  encodeFrame(toBinary(ServerMessageSchema, create(ServerMessageSchema, { requestId, message: { case: "pong", value: pong } })));

const pongs = fc.record({
  seq: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  clientSendTimeMs: fc.double(),
  serverReceiveTimeMs: fc.oneof(fc.constant(0), fc.constant(-0), fc.double()),
  serverSendTimeMs: fc.double(),
});

describe("pongFrame", () => {
  it("writes the bytes protobuf-es writes, for any pong and request id", () => {
    fc.assert(
      fc.property(fc.oneof(fc.constant(""), fc.string({ maxLength: 64 }), fc.string({ unit: "binary", maxLength: 200 })), pongs, (requestId, pong) => {
        expect(pongFrame(requestId, pong)).toEqual(reference(requestId, pong));
      }),
      { numRuns: 1000 },
    );
  });

  it("encodes a typical pong that decodes back to its fields", () => {
    const pong = { seq: 42n, clientSendTimeMs: 1_764_000_000_123.25, serverReceiveTimeMs: 1_764_000_000_130.5, serverSendTimeMs: 1_764_000_000_130.51 };
    const frame = pongFrame("r-1", pong);
    expect(frame[0]).toBe(0);
    expect(frame.readUInt32BE(1)).toBe(frame.length - 5);
    const msg = fromBinary(ServerMessageSchema, frame.subarray(5));
    expect(msg.requestId).toBe("r-1");
    expect(msg.message).toEqual({ case: "pong", value: expect.objectContaining(pong) });
  });

  it("gives each frame its own bytes (the scratch space is not shared with the wire)", () => {
    const a = pongFrame("", { seq: 1n, clientSendTimeMs: 1, serverReceiveTimeMs: 2, serverSendTimeMs: 3 });
    const copy = Buffer.from(a);
    pongFrame("", { seq: 2n, clientSendTimeMs: 4, serverReceiveTimeMs: 5, serverSendTimeMs: 6 });
    expect(a).toEqual(copy);
  });
});
