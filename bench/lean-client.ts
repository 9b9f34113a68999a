/**
 * A minimal gRPC client for the gateway's streams, straight on Node's http2: frames in,
 * frames out, protobuf-es for the messages. Benchmarks use it so that the client side costs a
 * few microseconds per message and what they measure is the server, not a client library
 * sharing the same two cores.
 */
import * as http2 from "node:http2";
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { ClientMessageSchema, ServerMessageSchema, SubscribeRequestSchema, type ServerMessage } from "../gen/groovebox/gateway/v1/gateway_pb.js";

export type ClientMessageInit = MessageInitShape<typeof ClientMessageSchema>;

/** An HTTP/2 connection to a gateway, for any number of streams. */
export function leanConnection(baseUrl: string): http2.ClientHttp2Session {
  const session = http2.connect(baseUrl, { settings: { initialWindowSize: 1 << 20 } });
  session.on("error", () => undefined);
  return session;
}

function frame(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + bytes.length);
  out[0] = 0;
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}

/** One gRPC stream: messages decoded as they arrive; the status when it ends. */
export class LeanStream {
  private readonly stream: http2.ClientHttp2Stream;
  private pending: Buffer = Buffer.alloc(0);
  /** Resolves with the grpc-status (and message) the stream ended with. */
  readonly ended: Promise<{ status: string; message: string }>;

  constructor(
    session: http2.ClientHttp2Session,
    method: "Connect" | "Subscribe",
    token: string,
    onMessage: (msg: ServerMessage) => void,
  ) {
    this.stream = session.request({
      ":method": "POST",
      ":path": `/groovebox.gateway.v1.GatewayService/${method}`,
      "content-type": "application/grpc+proto",
      te: "trailers",
      authorization: `Bearer ${token}`,
    });
    this.stream.on("data", (chunk: Buffer) => {
      this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
      while (this.pending.length >= 5) {
        const length = this.pending.readUInt32BE(1);
        if (this.pending.length < 5 + length) break;
        onMessage(fromBinary(ServerMessageSchema, this.pending.subarray(5, 5 + length)));
        this.pending = this.pending.subarray(5 + length);
      }
    });
    this.ended = new Promise((resolve) => {
      let status = "";
      let message = "";
      this.stream.on("response", (h) => {
        if (h["grpc-status"] !== undefined) status = String(h["grpc-status"]);
      });
      this.stream.on("trailers", (t) => {
        status = String(t["grpc-status"] ?? status);
        message = decodeURIComponent(String(t["grpc-message"] ?? ""));
      });
      this.stream.on("close", () => resolve({ status, message }));
      this.stream.on("error", () => undefined);
    });
  }

  /** Sends a client message (Connect streams). */
  send(msg: ClientMessageInit): void {
    this.stream.write(frame(toBinary(ClientMessageSchema, create(ClientMessageSchema, msg))));
  }

  /** Sends Subscribe's one request and ends the input. */
  subscribe(roomId: string): void {
    this.stream.end(frame(toBinary(SubscribeRequestSchema, create(SubscribeRequestSchema, { roomId }))));
  }

  /** Ends the client's side. */
  close(): void {
    this.stream.end();
  }
}
