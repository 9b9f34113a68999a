/**
 * A RecordSamples request encoded by hand. Every answered ping with `prev` completes a clock
 * sample, so the gateway forwards as many samples as it answers pings; protobuf-es encodes
 * each one by reflection (a writer fork and join per sample, a call per field), which cost
 * the gateway a fifth of its CPU under ping load. This writes the same bytes straight into one
 * buffer. sample-batch.test.ts checks it against protobuf-es.
 */
import { create } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import { RecordSamplesRequestSchema, type ClockSample, type RecordSamplesRequest } from "../../gen/groovebox/clock/v1/clock_pb.js";
import { endLengthDelimited, MAX_LENGTH_BYTES, maxStringFieldBytes, writeDouble, writeString } from "./proto-fields.js";

/** A complete clock sample of one session, as the gateway forwards it (roomId "" when in none). */
export type ClockSampleFields = Omit<ClockSample, "$typeName" | "$unknown">;

/** RecordSamplesRequest.samples (1), each a ClockSample. */
const SAMPLES_FIELD = 1;
const SAMPLE_TAG = (SAMPLES_FIELD << 3) | WireType.LengthDelimited;
/** ClockSample's field tags. */
const SESSION_ID_TAG = (1 << 3) | WireType.LengthDelimited;
const ROOM_ID_TAG = (2 << 3) | WireType.LengthDelimited;
const CLIENT_SEND_TAG = (3 << 3) | WireType.Bit64;
const SERVER_RECEIVE_TAG = (4 << 3) | WireType.Bit64;
const SERVER_SEND_TAG = (5 << 3) | WireType.Bit64;
const CLIENT_RECEIVE_TAG = (6 << 3) | WireType.Bit64;

/** The most bytes a sample takes: its tag and length, two strings, four doubles. */
const maxSampleBytes = (s: ClockSampleFields) => 1 + MAX_LENGTH_BYTES + maxStringFieldBytes(s.sessionId) + maxStringFieldBytes(s.roomId) + 4 * 9;

/**
 * The request carrying `samples`, ready for the client: a message whose samples are already
 * bytes. They ride in the message's unknown fields, which protobuf-es writes as they are, each
 * as its tag followed by its data: the data of the one entry is everything after the first
 * sample's tag, i.e. that sample's length and bytes followed by the other samples, each with
 * its own tag and length. On the wire this is exactly `repeated ClockSample samples = 1`.
 */
export function recordSamplesRequest(samples: readonly ClockSampleFields[]): RecordSamplesRequest {
  const request = create(RecordSamplesRequestSchema);
  if (samples.length === 0) return request;
  let worst = 0;
  for (const s of samples) worst += maxSampleBytes(s);
  const buf = Buffer.allocUnsafe(worst);
  let pos = 0;
  for (const s of samples) {
    buf[pos++] = SAMPLE_TAG;
    const lengthAt = pos++;
    pos = writeString(buf, pos, SESSION_ID_TAG, s.sessionId);
    pos = writeString(buf, pos, ROOM_ID_TAG, s.roomId);
    pos = writeDouble(buf, pos, CLIENT_SEND_TAG, s.clientSendTimeMs);
    pos = writeDouble(buf, pos, SERVER_RECEIVE_TAG, s.serverReceiveTimeMs);
    pos = writeDouble(buf, pos, SERVER_SEND_TAG, s.serverSendTimeMs);
    pos = writeDouble(buf, pos, CLIENT_RECEIVE_TAG, s.clientReceiveTimeMs);
    pos = endLengthDelimited(buf, lengthAt, pos);
  }
  request.$unknown = [{ no: SAMPLES_FIELD, wireType: WireType.LengthDelimited, data: buf.subarray(1, pos) }];
  return request;
}
