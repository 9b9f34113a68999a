import { fromBinary, fromJsonString, type DescMessage } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";

/** A request message that is not a message of its type (undecodable, or not UTF-8 JSON). */
export function malformedMessage(err: unknown): ConnectError {
  return new ConnectError(`malformed message: ${err instanceof Error ? err.message : String(err)}`, Code.InvalidArgument);
}

/** A request over the message size limit. */
export const tooLarge = (bytes: number, maxBytes: number) =>
  new ConnectError(`message of ${bytes} bytes is over the limit of ${maxBytes}`, Code.ResourceExhausted);

/** A unary or server-streaming call with no request message, or more than one. */
export const notOneMessage = (got: "none" | "more") =>
  new ConnectError(`this method takes exactly one request message; got ${got}`, Code.InvalidArgument);

const NO_BYTES = new Uint8Array(0);

/**
 * Splits a request body of enveloped messages (gRPC, gRPC-Web, Connect streams: a flags byte,
 * a 4-byte big-endian length, the message) into messages as chunks arrive. Every request of
 * groovebox has flags 0: nothing is compressed (no compression is ever negotiated) and a
 * client sends no end-of-stream or trailer envelopes, so other flags are INVALID_ARGUMENT; a
 * length over `maxBytes` is RESOURCE_EXHAUSTED before anything of it is buffered, and a body
 * that ends inside an envelope is INVALID_ARGUMENT (a truncated message is never taken).
 */
export class EnvelopeReader {
  /** The start of an envelope that the chunks so far have not completed. */
  private pending: Uint8Array = NO_BYTES;

  constructor(private readonly maxBytes: number) {}

  /**
   * The payloads of the envelopes completed by `chunk` (views of its bytes, no copies); throws
   * a ConnectError for one it will not take. A chunk usually holds whole messages (a ping is
   * one small frame): those are read where they lie, and only a partial envelope is kept.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    const bytes = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const payloads: Uint8Array[] = [];
    let pos = 0;
    while (bytes.length - pos >= 5) {
      const flags = bytes[pos]!;
      if (flags !== 0) {
        throw new ConnectError(
          (flags & 1) !== 0 ? "compressed message, but no compression was negotiated (send flags 0)" : `envelope flags ${flags} are not valid in a request (send flags 0)`,
          Code.InvalidArgument,
        );
      }
      const length = ((bytes[pos + 1]! << 24) | (bytes[pos + 2]! << 16) | (bytes[pos + 3]! << 8) | bytes[pos + 4]!) >>> 0;
      if (length > this.maxBytes) throw tooLarge(length, this.maxBytes);
      if (bytes.length - pos - 5 < length) break;
      payloads.push(bytes.subarray(pos + 5, pos + 5 + length));
      pos += 5 + length;
    }
    this.pending = pos === bytes.length ? NO_BYTES : bytes.subarray(pos);
    return payloads;
  }

  /** The body has ended: INVALID_ARGUMENT if it ended inside an envelope. */
  end(): void {
    if (this.pending.length > 0) {
      throw new ConnectError(`truncated message: the request ended inside a message (${this.pending.length} bytes of it)`, Code.InvalidArgument);
    }
  }
}

/** Decodes one request message, binary or JSON: INVALID_ARGUMENT when it is not one of `schema`. */
export function decodeRequest<Desc extends DescMessage>(schema: Desc, payload: Uint8Array, binary: boolean) {
  try {
    return binary ? fromBinary(schema, payload) : fromJsonString(schema, new TextDecoder("utf-8", { fatal: true }).decode(payload));
  } catch (err) {
    throw malformedMessage(err);
  }
}
