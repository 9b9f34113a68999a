/**
 * The gRPC frame of a pong, encoded by hand. A pong is the one message every stream sends a
 * few times a second, and its shape never changes: a ServerMessage with `request_id` (1) and
 * `pong` (4) = Pong { seq (1, uint64), client_send_time_ms (2), server_receive_time_ms (3),
 * server_send_time_ms (4), all doubles }. protobuf-es's create() and toBinary() spend most of
 * a pong's CPU on reflection and on a writer's chunks; this writes the same bytes (zero values
 * omitted, as proto3 and protobuf-es do) straight into the frame. pong-frame.test.ts checks it
 * against protobuf-es.
 */
import { endLengthDelimited, maxStringFieldBytes, writeDouble, writeString } from "./proto-fields.js";

/** Field tags (field number << 3 | wire type). */
const REQUEST_ID_TAG = (1 << 3) | 2;
const PONG_TAG = (4 << 3) | 2;
const SEQ_TAG = (1 << 3) | 0;
const CLIENT_SEND_TAG = (2 << 3) | 1;
const SERVER_RECEIVE_TAG = (3 << 3) | 1;
const SERVER_SEND_TAG = (4 << 3) | 1;

/** A pong's body is at most 11 (seq) + 3 x 9 (doubles) bytes: its length is one varint byte. */
const MAX_BODY = 38;

/** Scratch space a frame is built in before it is copied out at its exact size. */
let scratch = Buffer.allocUnsafe(256);

/** A pong's fields, as the stream's session holds them. */
export interface PongFields {
  seq: bigint;
  clientSendTimeMs: number;
  serverReceiveTimeMs: number;
  serverSendTimeMs: number;
}

/** A uint64 varint, from its low and high 32 bits (no BigInt arithmetic per byte). */
function writeVarint64(buf: Buffer, pos: number, value: bigint): number {
  let lo = Number(value & 0xffffffffn) >>> 0;
  let hi = Number((value >> 32n) & 0xffffffffn) >>> 0;
  while (hi !== 0 || lo > 0x7f) {
    buf[pos++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  buf[pos++] = lo;
  return pos;
}

/** The frame (flag, length, message) of ServerMessage { request_id, pong }. */
export function pongFrame(requestId: string, pong: PongFields): Buffer {
  const need = 5 + maxStringFieldBytes(requestId) + 2 + MAX_BODY;
  if (scratch.length < need) scratch = Buffer.allocUnsafe(need);
  const buf = scratch;
  let pos = writeString(buf, 5, REQUEST_ID_TAG, requestId);
  buf[pos++] = PONG_TAG;
  const lengthAt = pos++;
  if (pong.seq !== 0n) {
    buf[pos++] = SEQ_TAG;
    pos = writeVarint64(buf, pos, pong.seq);
  }
  pos = writeDouble(buf, pos, CLIENT_SEND_TAG, pong.clientSendTimeMs);
  pos = writeDouble(buf, pos, SERVER_RECEIVE_TAG, pong.serverReceiveTimeMs);
  pos = writeDouble(buf, pos, SERVER_SEND_TAG, pong.serverSendTimeMs);
  pos = endLengthDelimited(buf, lengthAt, pos);
  buf[0] = 0;
  buf.writeUInt32BE(pos - 5, 1);
  const frame = Buffer.allocUnsafe(pos);
  buf.copy(frame, 0, 0, pos);
  return frame;
}
