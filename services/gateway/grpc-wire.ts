import { create, toBinary } from "@bufbuild/protobuf";
import { ServerMessageSchema } from "../../gen/groovebox/gateway/v1/gateway_pb.js";
import type { ServerMessageInit } from "./stream-session.js";

/** The content types of the gRPC protocol with binary protobuf. */
export const GRPC_CONTENT_TYPES: ReadonlySet<string> = new Set(["application/grpc", "application/grpc+proto"]);

/** A gRPC message frame: flag 0 (uncompressed), 4-byte big-endian length, the bytes. */
export function encodeFrame(bytes: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(5 + bytes.length);
  frame[0] = 0;
  frame.writeUInt32BE(bytes.length, 1);
  frame.set(bytes, 5);
  return frame;
}

/** A server message as a frame. */
function serverMessageFrame(msg: ServerMessageInit): Buffer {
  return encodeFrame(toBinary(ServerMessageSchema, create(ServerMessageSchema, msg)));
}

/**
 * Frames of messages shared by many streams (room events) are encoded once: the first stream
 * that sends one encodes it, the others reuse the bytes.
 */
const sharedFrames = new WeakMap<ServerMessageInit, Buffer>();

export function sharedServerMessageFrame(msg: ServerMessageInit): Buffer {
  let frame = sharedFrames.get(msg);
  if (frame === undefined) {
    frame = serverMessageFrame(msg);
    sharedFrames.set(msg, frame);
  }
  return frame;
}

/** Longer deadlines than a timer can hold (about 24.8 days) are as good as none. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A grpc-timeout header ("5S", "100m", ...) in milliseconds; undefined when absent, malformed
 * or too long for a timer.
 */
export function grpcTimeoutMs(header: string | undefined): number | undefined {
  const m = header === undefined ? null : /^(\d{1,8})([HMSmun])$/.exec(header);
  if (!m) return undefined;
  const unitMs = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 }[m[2] as "H"];
  const ms = Number(m[1]) * unitMs;
  return ms > MAX_TIMER_MS ? undefined : ms;
}

/** grpc-message is percent-encoded (gRPC over HTTP/2 spec). */
export function encodeGrpcMessage(message: string): string {
  return encodeURIComponent(message);
}
