/**
 * The groovebox SDK for Node (native apps, the CLI, simulated devices): the device talks on
 * the bidirectional GatewayService/Connect stream over gRPC (HTTP/2), with HTTP/2 keepalive
 * pings so a dead link is noticed and the client reconnects.
 */
import { createGrpcTransport } from "@connectrpc/connect-node";
import { GrooveboxClient, type ClientEnvironment, type GrooveboxClientOptions } from "./client.js";
import { GuardedSessionManager } from "./guarded-session-manager.js";
import { openStreamChannel } from "./session/stream-channel.js";
import { openUnaryChannel } from "./session/unary-channel.js";
import type { TransportHandle } from "./transport.js";

export * from "./index.js";

/** HTTP/2 keepalive: a PING every pingIntervalMs without traffic; no answer within pingTimeoutMs ends the connection. */
export interface KeepaliveOptions {
  pingIntervalMs: number;
  pingTimeoutMs: number;
}

export const DEFAULT_KEEPALIVE: KeepaliveOptions = { pingIntervalMs: 5000, pingTimeoutMs: 5000 };

export interface NodeClientOptions extends GrooveboxClientOptions {
  /** The gateway, e.g. http://127.0.0.1:8080. */
  baseUrl: string;
  /** "stream" (default): the Connect bidi stream; "unary": unary calls and Subscribe, as browsers do. */
  mode?: "stream" | "unary";
  /** Default: DEFAULT_KEEPALIVE. */
  keepalive?: KeepaliveOptions;
}

/** A gRPC transport over its own HTTP/2 connection. */
export function nodeTransport(baseUrl: string, keepalive: KeepaliveOptions = DEFAULT_KEEPALIVE): TransportHandle {
  const sessionManager = new GuardedSessionManager(baseUrl, keepalive);
  return { transport: createGrpcTransport({ baseUrl, sessionManager }), close: () => sessionManager.abort() };
}

/** The Node environment: gRPC over HTTP/2, the bidi stream unless told otherwise. */
export function nodeEnvironment(opts: { baseUrl: string; mode?: "stream" | "unary"; keepalive?: KeepaliveOptions }): ClientEnvironment {
  return {
    transport: () => nodeTransport(opts.baseUrl, opts.keepalive),
    channel: opts.mode === "unary" ? openUnaryChannel : openStreamChannel,
  };
}

/** Connects a device: logs in (unless given a token), opens its stream, syncs its clock. */
export function connectGroovebox(opts: NodeClientOptions): Promise<GrooveboxClient> {
  return GrooveboxClient.connect(nodeEnvironment(opts), opts);
}
