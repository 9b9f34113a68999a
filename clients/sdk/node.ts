/**
 * The groovebox SDK for Node (native apps, the CLI, simulated devices): the device talks on
 * the bidirectional GatewayService/Connect stream over gRPC (HTTP/2), with HTTP/2 keepalive
 * pings so a dead link is noticed and the client reconnects.
 */
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { GrooveboxClient, type ClientEnvironment, type GrooveboxClientOptions } from "./client.js";
import { openStreamChannel } from "./session/stream-channel.js";
import { openUnaryChannel } from "./session/unary-channel.js";
import type { TransportHandle } from "./transport.js";

export * from "./index.js";

export interface NodeClientOptions extends GrooveboxClientOptions {
  /** The gateway, e.g. http://127.0.0.1:8080. */
  baseUrl: string;
  /** "stream" (default): the Connect bidi stream; "unary": unary calls and Subscribe, as browsers do. */
  mode?: "stream" | "unary";
}

/** A gRPC transport over its own HTTP/2 connection. */
export function nodeTransport(baseUrl: string): TransportHandle {
  const sessionManager = new Http2SessionManager(baseUrl, { pingIntervalMs: 5000, pingTimeoutMs: 5000 });
  return { transport: createGrpcTransport({ baseUrl, sessionManager }), close: () => sessionManager.abort() };
}

/** The Node environment: gRPC over HTTP/2, the bidi stream unless told otherwise. */
export function nodeEnvironment(opts: { baseUrl: string; mode?: "stream" | "unary" }): ClientEnvironment {
  return {
    transport: () => nodeTransport(opts.baseUrl),
    channel: opts.mode === "unary" ? openUnaryChannel : openStreamChannel,
  };
}

/** Connects a device: logs in (unless given a token), opens its stream, syncs its clock. */
export function connectGroovebox(opts: NodeClientOptions): Promise<GrooveboxClient> {
  return GrooveboxClient.connect(nodeEnvironment(opts), opts);
}
