import type { DescMessage, DescMethod } from "@bufbuild/protobuf";
import type { UniversalServerRequest } from "@connectrpc/connect/protocol";
import { parseContentType as connectContentType } from "@connectrpc/connect/protocol-connect";
import { parseContentType as grpcContentType } from "@connectrpc/connect/protocol-grpc";
import { parseContentType as grpcWebContentType } from "@connectrpc/connect/protocol-grpc-web";
import { decodeRequest, EnvelopeReader, notOneMessage, tooLarge } from "./envelopes.js";

/** How a request body is laid out, by its content type; undefined for one connect-es refuses anyway. */
function bodyFormat(contentType: string | null): { enveloped: boolean; binary: boolean } | undefined {
  const grpc = grpcContentType(contentType);
  if (grpc) return { enveloped: true, binary: grpc.binary };
  const web = grpcWebContentType(contentType);
  if (web && !web.text) return { enveloped: true, binary: web.binary };
  const connect = connectContentType(contentType);
  if (connect) return { enveloped: connect.stream, binary: connect.binary };
  return undefined;
}

async function* checkedEnvelopes(
  body: AsyncIterable<Uint8Array>,
  schema: DescMessage,
  binary: boolean,
  oneMessage: boolean,
  maxBytes: number,
): AsyncGenerator<Uint8Array> {
  const reader = new EnvelopeReader(maxBytes);
  let messages = 0;
  for await (const chunk of body) {
    for (const payload of reader.push(chunk)) {
      if (oneMessage && ++messages > 1) throw notOneMessage("more");
      decodeRequest(schema, payload, binary);
    }
    yield chunk;
  }
  reader.end();
  if (oneMessage && messages === 0) throw notOneMessage("none");
}

async function* checkedBareMessage(body: AsyncIterable<Uint8Array>, schema: DescMessage, binary: boolean, maxBytes: number): AsyncGenerator<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > maxBytes) throw tooLarge(size, maxBytes);
    chunks.push(chunk);
  }
  const message = Buffer.concat(chunks);
  decodeRequest(schema, message, binary);
  yield message;
}

/**
 * The request with its body checked on the way to connect-es: each message is taken only if
 * it decodes, and the envelopes only as EnvelopeReader takes them; a unary or server-streaming
 * call needs exactly one message. connect-es itself reports a message it cannot decode and a
 * compressed envelope as INTERNAL, and a missing or extra message as UNIMPLEMENTED; they are
 * the client's malformed input, so the client is told INVALID_ARGUMENT, as on the gateway's own
 * gRPC path (RESOURCE_EXHAUSTED over the size limit). Messages are decoded here once more than
 * connect-es does, which costs little for the small messages groovebox takes.
 */
export function checkedRequest(req: UniversalServerRequest, method: DescMethod, maxBytes: number): UniversalServerRequest {
  const format = req.method === "POST" ? bodyFormat(req.header.get("content-type")) : undefined;
  const body = req.body;
  if (format === undefined || body === null || typeof body !== "object" || !(Symbol.asyncIterator in body)) return req;
  const chunks = body as AsyncIterable<Uint8Array>;
  const oneMessage = method.methodKind === "unary" || method.methodKind === "server_streaming";
  return {
    ...req,
    body: format.enveloped
      ? checkedEnvelopes(chunks, method.input, format.binary, oneMessage, maxBytes)
      : checkedBareMessage(chunks, method.input, format.binary, maxBytes),
  };
}
