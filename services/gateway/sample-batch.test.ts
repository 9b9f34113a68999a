import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { RecordSamplesRequestSchema } from "../../gen/groovebox/clock/v1/clock_pb.js";
import { recordSamplesRequest, type ClockSampleFields } from "./sample-batch.js";

/** What protobuf-es writes for the same samples. */
const reference = (samples: ClockSampleFields[]) => toBinary(RecordSamplesRequestSchema, create(RecordSamplesRequestSchema, { samples }));

const time = fc.oneof(fc.constant(0), fc.constant(-0), fc.double());
const id = fc.oneof(fc.constant(""), fc.string({ maxLength: 40 }), fc.string({ unit: "binary", minLength: 30, maxLength: 200 }));
const sample = fc.record({
  sessionId: id,
  roomId: id,
  clientSendTimeMs: time,
  serverReceiveTimeMs: time,
  serverSendTimeMs: time,
  clientReceiveTimeMs: time,
});

describe("recordSamplesRequest", () => {
  it("is written as the bytes protobuf-es writes, for any samples", () => {
    fc.assert(
      fc.property(fc.array(sample, { maxLength: 20 }), (samples) => {
        expect(toBinary(RecordSamplesRequestSchema, recordSamplesRequest(samples))).toEqual(reference(samples));
      }),
      { numRuns: 500 },
    );
  });

  it("decodes back to the samples", () => {
    const samples = [
      { sessionId: "s-1", roomId: "r-1", clientSendTimeMs: 1_764_000_000_000.5, serverReceiveTimeMs: 1_764_000_000_010.25, serverSendTimeMs: 1_764_000_000_010.3, clientReceiveTimeMs: 1_764_000_000_020 },
      { sessionId: "s-2", roomId: "", clientSendTimeMs: 1, serverReceiveTimeMs: 2, serverSendTimeMs: 3, clientReceiveTimeMs: 4 },
    ];
    const decoded = fromBinary(RecordSamplesRequestSchema, toBinary(RecordSamplesRequestSchema, recordSamplesRequest(samples)));
    expect(decoded.samples).toEqual(samples.map((s) => expect.objectContaining(s)));
    expect(decoded.$unknown).toBeUndefined();
  });
});
