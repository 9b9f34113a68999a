import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { ClientMessageSchema } from "../../gen/groovebox/gateway/v1/gateway_pb.js";
import { decodePing } from "./ping-decode.js";

const uint64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const pingMessages: fc.Arbitrary<PingInit> = fc.record({
  requestId: fc.oneof(fc.constant(""), fc.string({ maxLength: 64 }), fc.string({ unit: "binary", maxLength: 80 })),
  seq: uint64,
  clientSendTimeMs: fc.oneof(fc.constant(0), fc.double()),
  prev: fc.option(fc.record({ seq: uint64, clientReceiveTimeMs: fc.oneof(fc.constant(0), fc.double()) }), { nil: undefined }),
});

interface PingInit {
  requestId: string;
  seq: bigint;
  clientSendTimeMs: number;
  prev: { seq: bigint; clientReceiveTimeMs: number } | undefined;
}

const encode = (m: PingInit) =>
  toBinary(
    ClientMessageSchema,
    create(ClientMessageSchema, {
      requestId: m.requestId,
      message: { case: "ping", value: { seq: m.seq, clientSendTimeMs: m.clientSendTimeMs, prev: m.prev } },
    }),
  );

/** protobuf-es's reading, or "throws". */
function reference(bytes: Uint8Array) {
  try {
    return fromBinary(ClientMessageSchema, bytes);
  } catch {
    return "throws";
  }
}

describe("decodePing", () => {
  it("reads every ping as protobuf-es does", () => {
    fc.assert(
      fc.property(pingMessages, (m) => {
        const bytes = encode(m);
        expect(decodePing(bytes)).toEqual(fromBinary(ClientMessageSchema, bytes));
      }),
      { numRuns: 1000 },
    );
  });

  it("either agrees with protobuf-es or leaves the message to it, whatever the bytes", () => {
    const mutated = pingMessages.chain((m) => {
      const bytes = encode(m);
      return fc
        .array(fc.record({ at: fc.nat(Math.max(0, bytes.length - 1)), value: fc.integer({ min: 0, max: 255 }) }), { maxLength: 3 })
        .chain((edits) =>
          fc.record({ cut: fc.integer({ min: 0, max: bytes.length }), extra: fc.uint8Array({ maxLength: 12 }) }).map(({ cut, extra }) => {
            const out = Uint8Array.from(bytes);
            for (const e of edits) if (out.length > 0) out[e.at] = e.value;
            return Uint8Array.from([...out.subarray(0, cut), ...extra]);
          }),
        );
    });
    fc.assert(
      fc.property(fc.oneof(mutated, fc.uint8Array({ maxLength: 40 })), (bytes) => {
        const fast = decodePing(bytes);
        if (fast !== undefined) expect(fast).toEqual(reference(bytes));
      }),
      { numRuns: 3000 },
    );
  });

  it("leaves other messages, unknown fields and repeated fields to protobuf-es", () => {
    const join = toBinary(ClientMessageSchema, create(ClientMessageSchema, { message: { case: "joinRoom", value: { roomCode: "ABC" } } }));
    expect(decodePing(join)).toBeUndefined();
    const ping = encode({ requestId: "", seq: 1n, clientSendTimeMs: 5, prev: undefined });
    expect(decodePing(Uint8Array.from([...ping, 0x50, 0x01]))).toBeUndefined(); // field 10, varint
    expect(decodePing(Uint8Array.from([...ping, ...ping]))).toBeUndefined(); // ping twice: merged by protobuf-es
    expect(decodePing(new Uint8Array(0))).toBeUndefined(); // no message set
  });
});
