import * as http2 from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import { ClientMessageSchema, SubscribeRequestSchema } from "../../gen/groovebox/gateway/v1/gateway_pb.js";
import { authenticate } from "../common/auth/gate.js";
import type { TokenService } from "../common/auth/tokens.js";
import { toConnectError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import { requireId } from "../common/validate.js";
import { decodeRequest, EnvelopeReader, notOneMessage } from "../common/envelopes.js";
import { encodeGrpcMessage, GRPC_CONTENT_TYPES, grpcTimeoutMs, sharedServerMessageFrame } from "./grpc-wire.js";
import { decodePing } from "./ping-decode.js";
import { pongFrame, type PongFields } from "./pong-frame.js";
import type { StreamCore, StreamKind } from "./stream-core.js";
import type { ServerMessageInit, StreamSession } from "./stream-session.js";

/** How long trailers may wait behind unsent data before the stream is reset instead. */
const TRAILERS_TIMEOUT_MS = 2000;

/**
 * The RST_STREAM code that carries a status to a gRPC client that cannot get trailers. gRPC
 * over HTTP/2 maps ENHANCE_YOUR_CALM to RESOURCE_EXHAUSTED and CANCEL to CANCELLED (grpc-go,
 * grpc-js and connect-es read them so); other statuses have no code of their own and fall
 * back to CANCEL.
 */
function resetCodeFor(code: Code | 0): number {
  const { NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_CANCEL } = http2.constants;
  return code === Code.ResourceExhausted ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_CANCEL;
}

const PATHS: Record<string, StreamKind> = {
  "/groovebox.gateway.v1.GatewayService/Connect": "connect",
  "/groovebox.gateway.v1.GatewayService/Subscribe": "subscribe",
};

/**
 * The gateway's own gRPC path for its two streams, straight on Node's HTTP/2 streams. Devices
 * hold these streams all day, so per-stream memory and per-message CPU decide how many one
 * gateway carries: connect-es runs every message through a chain of a dozen async iterators
 * and keeps ~35 KiB per idle stream; this path frames and parses messages itself, writes each
 * room event's bytes, encoded once, to every stream, and keeps a few KiB per stream. Only
 * gRPC with binary protobuf takes this path; Connect and gRPC-Web (browsers, buf curl) go
 * through connect-es as before, with the same stream core behind both.
 */
export function createGrpcStreams(deps: {
  core: StreamCore;
  tokens: TokenService;
  logger: Logger;
  maxMessageBytes: number;
  /** Aborted on shutdown: every stream ends with UNAVAILABLE. */
  shutdownSignal: AbortSignal;
}) {
  const { core, logger } = deps;
  const live = new Set<StreamSession>();
  deps.shutdownSignal.addEventListener("abort", () => {
    for (const session of live) session.fail(new ConnectError("server is shutting down", Code.Unavailable));
  });

  /**
   * Ends the call with a gRPC status: trailers, or a trailers-only response. Trailers wait
   * behind the data Node still holds for the stream, so a client that stopped reading would
   * never see them: when that data is still stuck after TRAILERS_TIMEOUT_MS, the stream is
   * reset with the code that carries the status (see resetCodeFor). A client that reads gets
   * the data and then the status with its message, however full the buffer was when the call
   * failed (messages are written as they are sent, so a burst of answers can fill it).
   */
  function finish(stream: http2.ServerHttp2Stream, code: Code | 0, message: string): void {
    if (stream.destroyed || stream.closed) return;
    const status = { "grpc-status": String(code), ...(message ? { "grpc-message": encodeGrpcMessage(message) } : {}) };
    if (!stream.headersSent) {
      stream.respond({ ":status": 200, "content-type": "application/grpc+proto", ...status }, { endStream: true });
      return;
    }
    stream.once("wantTrailers", () => {
      stream.sendTrailers(status);
      // The response is complete; a client still sending is told to stop without error
      // (RST_STREAM NO_ERROR, RFC 9113 8.1), so the stream does not linger half-open.
      if (!stream.readableEnded) setImmediate(() => !stream.closed && stream.close(http2.constants.NGHTTP2_NO_ERROR));
    });
    stream.end();
    const timer = setTimeout(() => !stream.closed && stream.close(resetCodeFor(code)), TRAILERS_TIMEOUT_MS);
    timer.unref();
    stream.once("close", () => clearTimeout(timer));
  }

  /**
   * Writes the session's messages until it ends; pongs are stamped and encoded as they go.
   * A message is written as it is sent (in the same tick as the ping it answers: t2 sits next
   * to the wire) while Node takes more for the stream; while its buffer is full, messages
   * queue, and the writer waits for room, for the stream to close, or for the session to fail
   * (a client that stops reading is failed as too slow), then writes the queue out.
   */
  async function pump(session: StreamSession, stream: http2.ServerHttp2Stream): Promise<void> {
    const failed = session.whenFailed();
    const write = (msg: ServerMessageInit): boolean => {
      core.departing(session, msg);
      const frame = msg.message?.case === "pong" ? pongFrame(msg.requestId ?? "", msg.message.value as PongFields) : sharedServerMessageFrame(msg);
      return stream.write(frame) || stream.closed || stream.destroyed;
    };
    while ((await session.writeThrough(write)) === "full") {
      let done!: () => void;
      await Promise.race([
        new Promise<void>((resolve) => {
          done = resolve;
          stream.once("drain", done);
          stream.once("close", done);
        }),
        failed,
      ]);
      stream.off("drain", done);
      stream.off("close", done);
    }
  }

  /**
   * Feeds the request body's messages to the session. Subscribe takes exactly one message; a
   * body that ends inside a message fails the call (a truncated message is never taken).
   */
  function read(kind: StreamKind, session: StreamSession, stream: http2.ServerHttp2Stream): void {
    const envelopes = new EnvelopeReader(deps.maxMessageBytes);
    let subscribed = false;
    // Once the call has failed, nothing more is read (or buffered): the client gets no more
    // flow-control credit and the call ends.
    let stopped = false;
    void session.whenFailed().then(() => {
      stopped = true;
      stream.pause();
    });
    stream.on("data", (chunk: Buffer) => {
      if (stopped) return;
      try {
        for (const payload of envelopes.push(chunk)) {
          const receivedAt = core.now();
          if (kind === "connect") {
            core.receive(session, decodePing(payload) ?? decodeRequest(ClientMessageSchema, payload, true), receivedAt);
          } else if (subscribed) {
            throw notOneMessage("more");
          } else {
            subscribed = true;
            core.subscribe(session, requireId(decodeRequest(SubscribeRequestSchema, payload, true).roomId, "room_id"));
          }
          if (stopped) return;
        }
      } catch (err) {
        session.fail(err);
      }
    });
    const ended = () => {
      if (stopped) return;
      try {
        envelopes.end();
        if (kind === "subscribe" && !subscribed) throw notOneMessage("none");
      } catch (err) {
        session.fail(err);
        return;
      }
      if (kind === "connect") void session.settled().then(() => session.close());
    };
    // A body that ended while the caller's token was checked has emitted "end" already.
    if (stream.readableEnded) ended();
    else stream.on("end", ended);
  }

  async function serve(kind: StreamKind, stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): Promise<void> {
    let opened: Awaited<ReturnType<StreamCore["open"]>> | undefined;
    let reason = "closed";
    let deadline: NodeJS.Timeout | undefined;
    try {
      if (headers["grpc-encoding"] !== undefined && headers["grpc-encoding"] !== "identity") {
        throw new ConnectError(`grpc-encoding ${String(headers["grpc-encoding"])} is not supported`, Code.Unimplemented);
      }
      const user = await authenticate(deps.tokens, headers.authorization, "user");
      opened = await core.open(user, String(headers.authorization), kind);
      const session = opened.session;
      live.add(session);
      const closed = () => session.fail(new ConnectError("the client closed the stream", Code.Canceled));
      // The client may have gone while its token and its place were checked.
      if (stream.closed || stream.destroyed) closed();
      else stream.on("close", closed);
      const timeout = grpcTimeoutMs(headers["grpc-timeout"] as string | undefined);
      if (timeout !== undefined) {
        deadline = setTimeout(() => session.fail(new ConnectError("the deadline passed", Code.DeadlineExceeded)), timeout);
      }
      stream.respond({ ":status": 200, "content-type": "application/grpc+proto", "grpc-accept-encoding": "identity" }, { waitForTrailers: true });
      read(kind, session, stream);
      await pump(session, stream);
      finish(stream, 0, ""); // OK
    } catch (err) {
      const e = toConnectError(err, logger.child({ sessionId: opened?.session.id, roomId: opened?.session.roomId }));
      reason = Code[e.code] ?? "unknown";
      finish(stream, e.code, e.rawMessage);
    } finally {
      clearTimeout(deadline);
      if (opened) {
        live.delete(opened.session);
        opened.close(reason);
      }
    }
  }

  /** Takes the stream when it is one of the gateway's gRPC streams; false leaves it to connect-es. */
  return function takeStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): boolean {
    const kind = PATHS[String(headers[":path"])];
    if (kind === undefined || headers[":method"] !== "POST" || !GRPC_CONTENT_TYPES.has(String(headers["content-type"]))) return false;
    // A reset by the client shows up as an error on the stream; "close" handles the rest.
    stream.on("error", (err) => logger.debug({ err }, "grpc stream error"));
    void serve(kind, stream, headers);
    return true;
  };
}
