/**
 * Writing protobuf fields straight into a Buffer, for the few messages the gateway encodes by
 * hand because it sends them all the time (pong-frame.ts, sample-batch.ts). The caller makes
 * sure the buffer has room for the worst case. Zero values are left out, as proto3 and
 * protobuf-es do for fields without explicit presence.
 */

/** A varint of up to 32 bits at `pos`; returns the position after it. */
export function writeVarint(buf: Buffer, pos: number, value: number): number {
  while (value > 0x7f) {
    buf[pos++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  buf[pos++] = value;
  return pos;
}

function varintSize(value: number): number {
  let size = 1;
  while (value > 0x7f) {
    value >>>= 7;
    size++;
  }
  return size;
}

/** The most bytes a length-delimited field's length takes (32 bits). */
export const MAX_LENGTH_BYTES = 5;

/**
 * Ends a length-delimited field whose body was written after one byte left for its length at
 * `lengthAt`, up to `end`: writes the length there, moving the body when the length takes
 * more than one byte (bodies are nearly always shorter than 128 bytes, and the sizes are known
 * only once written). Needs room for MAX_LENGTH_BYTES - 1 more bytes after `end`. Returns
 * the field's new end.
 */
export function endLengthDelimited(buf: Buffer, lengthAt: number, end: number): number {
  const length = end - lengthAt - 1;
  const lengthBytes = varintSize(length);
  if (lengthBytes > 1) buf.copy(buf, lengthAt + lengthBytes, lengthAt + 1, end);
  return writeVarint(buf, lengthAt, length) + length;
}

/** The most bytes writeString may write for `value`: tag, length, 3 bytes of UTF-8 per UTF-16 unit. */
export const maxStringFieldBytes = (value: string) => 1 + MAX_LENGTH_BYTES + value.length * 3;

/** A string field (one-byte `tag`) as UTF-8; nothing when empty. */
export function writeString(buf: Buffer, pos: number, tag: number, value: string): number {
  if (value.length === 0) return pos;
  buf[pos++] = tag;
  const lengthAt = pos;
  return endLengthDelimited(buf, lengthAt, lengthAt + 1 + buf.write(value, lengthAt + 1, "utf8"));
}

/** A double field (one-byte `tag`); nothing when 0 (-0 is not zero: protobuf-es writes it too). */
export function writeDouble(buf: Buffer, pos: number, tag: number, value: number): number {
  if (Object.is(value, 0)) return pos;
  buf[pos] = tag;
  buf.writeDoubleLE(value, pos + 1);
  return pos + 9;
}
