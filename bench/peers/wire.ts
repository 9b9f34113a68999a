/**
 * What the peer benchmark's servers and load client share: the gateway's Connect method as a
 * @grpc/grpc-js service definition (protobuf-es does the encoding, as in the gateway), and the
 * socket.io event names for the same ping/pong and room fan-out.
 */
import { fromBinary, toBinary, type MessageShape } from "@bufbuild/protobuf";
import type * as grpc from "@grpc/grpc-js";
import { ClientMessageSchema, ServerMessageSchema } from "../../gen/groovebox/gateway/v1/gateway_pb.js";

export type ClientMessage = MessageShape<typeof ClientMessageSchema>;
export type ServerMessage = MessageShape<typeof ServerMessageSchema>;

/** GatewayService/Connect, for grpc-js clients and the plain grpc-js server alike. */
export const connectMethod = {
  connect: {
    path: "/groovebox.gateway.v1.GatewayService/Connect",
    requestStream: true,
    responseStream: true,
    requestSerialize: (m: ClientMessage) => Buffer.from(toBinary(ClientMessageSchema, m)),
    requestDeserialize: (b: Buffer) => fromBinary(ClientMessageSchema, b),
    responseSerialize: (m: ServerMessage) => Buffer.from(toBinary(ServerMessageSchema, m)),
    responseDeserialize: (b: Buffer) => fromBinary(ServerMessageSchema, b),
  },
} satisfies grpc.ServiceDefinition;

/** socket.io events, named after the seed's socket protocol. */
export const ioEvents = {
  ping: "sync:ping",
  pong: "sync:pong",
  join: "room:join",
  start: "playback:start",
  started: "playback:started",
} as const;

/** A socket.io ping: what a Connect stream's ping carries. */
export interface IoPing {
  seq: number;
  clientSendTimeMs: number;
  prev?: { seq: number; clientReceiveTimeMs: number };
}

export interface IoPong {
  seq: number;
  clientSendTimeMs: number;
  serverReceiveTimeMs: number;
  serverSendTimeMs: number;
}

/** A peer server process tells its parent it listens (IPC). */
export interface ServerReady {
  kind: "listening";
  port: number;
  metricsPort: number;
}
