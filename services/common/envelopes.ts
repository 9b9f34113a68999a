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

/**
 * Splits a request body of enveloped messages (gRPC, gRPC-Web, Connect streams: a flags byte,
 * a 4-byte big-endian length, the message) into messages as chunks arrive. Every request of
 * groovebox has flags 0: nothing is compressed (no compression is ever negotiated) and a
 * client sends no end-of-stream or trailer envelopes, so other flags are INVALID_ARGUMENT; a
 * length over `maxBytes` is RESOURCE_EXHAUSTED before anything of it is buffered, and a body
 * that ends inside an envelope is INVALID_ARGUMENT (a truncated message is never taken).
 */
export class EnvelopeReader {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly maxBytes: number) {}

  /** The payloads of the envelopes completed by `chunk`; throws a ConnectError for one it will not take. */
  push(chunk: Uint8Array): Uint8Array[] {
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.pending = this.pending.length === 0 ? bytes : Buffer.concat([this.pending, bytes]);
    const payloads: Uint8Array[] = [];
    while (this.pending.length >= 5) {
      const flags = this.pending[0]!;
      if (flags !== 0) {
        throw new ConnectError(
          (flags & 1) !== 0 ? "compressed message, but no compression was negotiated (send flags 0)" : `envelope flags ${flags} are not valid in a request (send flags 0)`,
          Code.InvalidArgument,
        );
      }
      const length = this.pending.readUInt32BE(1);
      if (length > this.maxBytes) throw tooLarge(length, this.maxBytes);
      if (this.pending.length < 5 + length) break;
      payloads.push(this.pending.subarray(5, 5 + length));
      this.pending = this.pending.subarray(5 + length);
    }
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
