/**
 * Reads a ClientMessage that is a ping without protobuf-es's reflection: pings are nearly all
 * a stream's messages, and their shape is fixed: ClientMessage { request_id (1), ping (2) =
 * Ping { seq (1, uint64), client_send_time_ms (2, double), prev (3) = PreviousPong { seq (1),
 * client_receive_time_ms (2) } } }. Anything else (another message, an unknown or repeated
 * field, an unexpected wire type, bytes that do not parse) returns undefined, and the caller
 * decodes the message with fromBinary as before, so every input means exactly what protobuf-es
 * makes of it. ping-decode.test.ts checks this against protobuf-es.
 */
import type { ClientMessage, Ping, PreviousPong } from "../../gen/groovebox/gateway/v1/gateway_pb.js";

const VARINT = 0;
const BIT64 = 1;
const LENGTH_DELIMITED = 2;

const fieldTag = (field: number, wireType: number) => (field << 3) | wireType;

/** Where a double's 8 bytes are read from (no view allocated per double). */
const doubleBytes = new Uint8Array(8);
const doubleView = new DataView(doubleBytes.buffer);

/** Reads protobuf fields of one message from `bytes[start, end)`; any oddity ends it with `ok` false. */
class Cursor {
  pos: number;
  ok = true;
  /** The field numbers read so far, one bit each. */
  private seen = 0;

  constructor(
    private readonly bytes: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  get more(): boolean {
    return this.ok && this.pos < this.end;
  }

  /**
   * The next field's tag when its number is in 1..maxField and was not seen before in this
   * message; otherwise 0, and the message is left to protobuf-es (a field twice is merged or
   * last-wins there).
   */
  nextTag(maxField: number): number {
    const tag = this.uint32();
    const field = tag >>> 3;
    const bit = 1 << field;
    if (!this.ok || field < 1 || field > maxField || this.seen & bit) return 0;
    this.seen |= bit;
    return tag;
  }

  /** A varint up to 32 bits (tags, lengths); larger ones fail. */
  uint32(): number {
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (this.pos >= this.end) break;
      const b = this.bytes[this.pos++]!;
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result <= 0xffffffff ? result : this.fail();
    }
    return this.fail();
  }

  /** A uint64 varint (up to 10 bytes; the bits beyond 64 dropped, as protobuf-es does). */
  uint64(): bigint {
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) break;
      const b = this.bytes[this.pos++]!;
      if (i < 4) lo |= (b & 0x7f) << (i * 7);
      else if (i === 4) {
        lo |= (b & 0x0f) << 28;
        hi |= (b & 0x7f) >> 4;
      } else hi |= (b & 0x7f) << (i * 7 - 32);
      if (b < 0x80) return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
    }
    this.fail();
    return 0n;
  }

  double(): number {
    if (this.pos + 8 > this.end) return this.fail();
    for (let i = 0; i < 8; i++) doubleBytes[i] = this.bytes[this.pos++]!;
    return doubleView.getFloat64(0, true);
  }

  /** The end of a length-delimited field that starts here. */
  sub(): number {
    const length = this.uint32();
    const end = this.pos + length;
    return end > this.end ? this.fail() : end;
  }

  fail(): number {
    this.ok = false;
    this.pos = this.end;
    return 0;
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The message, when it is a plain ping; undefined for anything to leave to fromBinary. */
export function decodePing(bytes: Uint8Array): ClientMessage | undefined {
  const c = new Cursor(bytes, 0, bytes.length);
  let requestId = "";
  let ping: Ping | undefined;
  while (c.more) {
    const tag = c.nextTag(2);
    if ((tag & 7) !== LENGTH_DELIMITED) return undefined;
    const end = c.sub();
    if (!c.ok) return undefined;
    if (tag >>> 3 === 1) {
      try {
        requestId = utf8.decode(bytes.subarray(c.pos, end));
      } catch {
        return undefined; // invalid UTF-8: protobuf-es's error is the one to give
      }
      c.pos = end;
    } else {
      ping = readPing(bytes, c.pos, end);
      if (ping === undefined) return undefined;
      c.pos = end;
    }
  }
  if (!c.ok || ping === undefined) return undefined;
  return { $typeName: "groovebox.gateway.v1.ClientMessage", requestId, message: { case: "ping", value: ping } };
}

function readPing(bytes: Uint8Array, start: number, end: number): Ping | undefined {
  const c = new Cursor(bytes, start, end);
  const ping: Ping = { $typeName: "groovebox.gateway.v1.Ping", seq: 0n, clientSendTimeMs: 0 };
  while (c.more) {
    const tag = c.nextTag(3);
    if (tag === fieldTag(1, VARINT)) ping.seq = c.uint64();
    else if (tag === fieldTag(2, BIT64)) ping.clientSendTimeMs = c.double();
    else if (tag === fieldTag(3, LENGTH_DELIMITED)) {
      const subEnd = c.sub();
      if (!c.ok) return undefined;
      const prev = readPrev(bytes, c.pos, subEnd);
      if (prev === undefined) return undefined;
      ping.prev = prev;
      c.pos = subEnd;
    } else return undefined;
  }
  return c.ok ? ping : undefined;
}

function readPrev(bytes: Uint8Array, start: number, end: number): PreviousPong | undefined {
  const c = new Cursor(bytes, start, end);
  const prev: PreviousPong = { $typeName: "groovebox.gateway.v1.PreviousPong", seq: 0n, clientReceiveTimeMs: 0 };
  while (c.more) {
    const tag = c.nextTag(2);
    if (tag === fieldTag(1, VARINT)) prev.seq = c.uint64();
    else if (tag === fieldTag(2, BIT64)) prev.clientReceiveTimeMs = c.double();
    else return undefined;
  }
  return c.ok ? prev : undefined;
}
