import * as http from "node:http";
import * as http2 from "node:http2";
import { setMaxListeners } from "node:events";
import * as net from "node:net";
import { Code, ConnectError, createContextValues, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import type { Registry } from "prom-client";
import { ClockService } from "../../gen/groovebox/clock/v1/clock_pb.js";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import type { ClockSource } from "./clock-source.js";
import { createHealthRegistry, createHealthService, type HealthRegistry } from "./health.js";
import { withCors, type CorsOrigins } from "./cors.js";
import { createServerInterceptor } from "./interceptors.js";
import type { Logger } from "./logger.js";
import { createConnectionAdmission } from "./connection-admission.js";
import { createIdleConnectionPolicy } from "./idle-connections.js";
import { createOperatorServer } from "./operator-server.js";
import { callReset, resetCallKey } from "./call-reset.js";
import { peerAddressKey } from "./peer-address.js";
import { createPingService } from "./ping-service.js";
import { isRedisReady, type RedisClient } from "./redis.js";
import { createRpcHandler, type NodeHandler } from "./rpc-handler.js";

/**
 * Connections the kernel completes before the process accepts them (capped by the host's
 * net.core.somaxconn). Node's default of 511 is too few for a burst: the kernel drops the
 * handshakes beyond it and the clients' retransmits wait 1, 3, 7 s; with 5000 logins at once
 * a quarter of them waited for their deadline with their request unread. Accepted, a connection
 * is admitted or shed at once (connection-admission.ts).
 */
const LISTEN_BACKLOG = 4096;

export interface ServiceServerOptions {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** Where GET /healthz and GET /metrics are served: the operators' port, not the public one. */
  operator: { host: string; port: number };
  /**
   * Registers the service's handlers; grpc.health.v1.Health and groovebox.clock.v1.ClockService
   * (Ping, stamped by `clock`, open to anyone like health) are added here.
   */
  routes: (router: ConnectRouter) => void;
  /** The process's server time, which Ping reports. */
  clock: ClockSource;
  logger: Logger;
  health: HealthRegistry;
  metrics: Registry;
  /** Interceptors after the built-in one (request id, logging, error mapping). */
  interceptors?: Interceptor[];
  /** The largest request message accepted; larger ones end the call with RESOURCE_EXHAUSTED. */
  readMaxBytes?: number;
  /**
   * Memory one HTTP/2 connection may hold before new streams on it are refused
   * (ENHANCE_YOUR_CALM). Node's default of 10 MB is too small for a connection that
   * multiplexes thousands of streams.
   */
  maxSessionMemoryMb?: number;
  /** The most concurrent streams one HTTP/2 connection may open. */
  maxConcurrentStreams?: number;
  /** HTTP/2 PING interval on idle-looking connections; a peer that does not answer is dropped. */
  keepaliveIntervalMs?: number;
  keepaliveTimeoutMs?: number;
  /**
   * A connection that sends nothing, never finishes its headers, or has no call open is closed
   * this long after it opened or its last call ended (see idle-connections.ts). Default 5 min:
   * the gateway sets a short one on the public port.
   */
  idleTimeoutMs?: number;
  /**
   * Connections accepted that have not started a call yet; beyond it, new connections are
   * closed at once (see connection-admission.ts). Default 1024.
   */
  maxPendingConnections?: number;
  /** How long a new connection counts as pending at most (default 1 s). */
  connectionHandshakeMs?: number;
  /** How long stop() waits for open calls before closing their connections. */
  shutdownGraceMs: number;
  /**
   * Sees each new HTTP/2 stream first; a stream it takes (returns true) is its own, the rest
   * go to connect-es. The gateway serves its hot streams this way.
   */
  takeStream?: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean;
  /** Web origins allowed to call the server (CORS, see cors.ts); without it, no CORS handling. */
  corsOrigins?: CorsOrigins;
  /** Serves requests for paths that are no RPC (the gateway's browser page); default: 404. */
  fallback?: NodeHandler;
}

export interface ServiceServer {
  /** Listens on the service's port and the operators' port; resolves with the service's port. */
  start(): Promise<number>;
  /** The operators' port (after start). */
  operatorPort(): number;
  /**
   * Graceful stop: health turns NOT_SERVING, no new connections, streams are ended with
   * UNAVAILABLE through their context signal, HTTP/2 connections get GOAWAY, and after
   * shutdownGraceMs whatever is still open is closed.
   */
  stop(): Promise<void>;
  /** Aborted when stop() begins; long-running work may listen to it. */
  readonly shutdownSignal: AbortSignal;
}

const HTTP2_PREFACE_START = "PRI";

/** Where a service listens: its own port, the operators' port, and its shutdown grace. */
export interface ServiceAddressOptions {
  host: string;
  port: number;
  operatorHost: string;
  operatorPort: number;
  shutdownGraceMs: number;
}

/**
 * A groovebox service's server, wired the usual way: address and shutdown grace from the
 * service's options, and health that follows its Redis connection.
 */
export function createRedisServiceServer(
  deps: { logger: Logger; metrics: Registry; clock: ClockSource; options: ServiceAddressOptions },
  spec: {
    serviceNames: readonly string[];
    /** The connection whose state decides readiness. */
    redis: RedisClient;
    routes: ServiceServerOptions["routes"];
  } & Pick<ServiceServerOptions, "readMaxBytes" | "interceptors" | "takeStream" | "idleTimeoutMs" | "maxPendingConnections" | "connectionHandshakeMs" | "corsOrigins" | "fallback">,
): ServiceServer {
  const { serviceNames, redis, ...rest } = spec;
  return createServiceServer({
    host: deps.options.host,
    port: deps.options.port,
    operator: { host: deps.options.operatorHost, port: deps.options.operatorPort },
    shutdownGraceMs: deps.options.shutdownGraceMs,
    logger: deps.logger,
    metrics: deps.metrics,
    clock: deps.clock,
    health: createHealthRegistry({ services: [...serviceNames, ClockService.typeName], probes: [() => isRedisReady(redis)] }),
    ...rest,
  });
}

/**
 * Serves Connect, gRPC and gRPC-Web, over HTTP/2 cleartext (h2c, prior knowledge) and HTTP/1.1
 * on one port (with grpc.health.v1), and GET /healthz and GET /metrics on the operators' port
 * (operator-server.ts). Node cannot serve h2c and HTTP/1.1 on one
 * server, so a plain TCP server looks at the first bytes of each connection and hands it to the
 * HTTP/2 or the HTTP/1.1 server.
 */
export function createServiceServer(opts: ServiceServerOptions): ServiceServer {
  const log = opts.logger;
  const shutdown = new AbortController();
  // Every call's context listens to the shutdown signal: thousands of streams are normal here.
  setMaxListeners(0, shutdown.signal);
  const connectHandler = createRpcHandler({
    routes: (router) => {
      opts.routes(router);
      router.service(Health, createHealthService(opts.health));
      router.service(ClockService, createPingService(opts.clock));
    },
    router: {
      shutdownSignal: shutdown.signal,
      interceptors: [createServerInterceptor(log), ...(opts.interceptors ?? [])],
      readMaxBytes: opts.readMaxBytes ?? 4 * 1024 * 1024,
      // Messages are small and mostly on fast links: compressing them costs more CPU than it saves.
      acceptCompression: [],
    },
    logger: log,
    fallback: opts.fallback,
    contextValues: (req) =>
      createContextValues()
        .set(peerAddressKey, req.socket?.remoteAddress ?? "")
        .set(resetCallKey, callReset(req)),
  });
  const handler = opts.corsOrigins ? withCors(opts.corsOrigins, connectHandler) : connectHandler;
  const operator = createOperatorServer({ ...opts.operator, health: opts.health, metrics: opts.metrics, logger: log });

  const h2 = http2.createServer(
    {
      maxSessionMemory: opts.maxSessionMemoryMb ?? 256,
      settings: { maxConcurrentStreams: opts.maxConcurrentStreams ?? 20_000 },
    },
    handler,
  );
  if (opts.takeStream) interceptStreams(h2, opts.takeStream);
  const answered = watchAnsweredStreams(h2);
  const h1 = http.createServer({ keepAliveTimeout: 5000 }, handler);
  // The HTTP/1.1 server never listens itself (connections are handed to it), so Node does not
  // track its connections and closeIdleConnections() would do nothing: track them here.
  const h1Busy = new Set<net.Socket>();
  let stopping = false;
  const admission = createConnectionAdmission(opts.maxPendingConnections ?? 1024, opts.connectionHandshakeMs);
  h1.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket;
    admission.started(socket);
    h1Busy.add(socket);
    res.once("close", () => {
      h1Busy.delete(socket);
      if (stopping) socket.end();
    });
  });
  const sockets = new Set<net.Socket>();
  /** Connections that have not sent their first bytes yet (not handed to a server). */
  const unrouted = new Set<net.Socket>();
  /** Connections handed to the HTTP/2 server (they close gracefully with their session). */
  const h2Sockets = new WeakSet<net.Socket>();
  const sessions = new Set<http2.ServerHttp2Session>();

  const idle = createIdleConnectionPolicy(opts.idleTimeoutMs ?? 300_000, h1);
  /** The socket being handed to the HTTP/2 server: its session is made synchronously. */
  let routing: net.Socket | undefined;
  h2.on("session", (session) => {
    sessions.add(session);
    if (routing) admission.alias(routing, session);
    routing = undefined;
    session.once("stream", () => admission.started(session));
    idle.watchHttp2(session);
    const stopKeepalive = keepSessionAlive(session, opts.keepaliveIntervalMs ?? 30_000, opts.keepaliveTimeoutMs ?? 10_000);
    session.once("close", () => {
      stopKeepalive();
      sessions.delete(session);
    });
    session.on("error", (err) => log.debug({ err }, "http2 session error"));
  });
  h2.on("sessionError", (err) => log.debug({ err }, "http2 session error"));

  // No Nagle: pongs and events are small writes that must leave at once, not wait for an ACK.
  const tcp = net.createServer({ noDelay: true, keepAlive: true }, (socket) => {
    if (!admission.admit(socket)) {
      socket.on("error", () => undefined);
      socket.resetAndDestroy();
      return;
    }
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", (err) => log.debug({ err }, "socket error"));
    unrouted.add(socket);
    const routed = idle.watchUnrouted(socket);
    socket.once("close", routed);
    routeByPreface(socket, h2, h1, (isHttp2) => {
      routed();
      unrouted.delete(socket);
      if (!isHttp2) idle.watchHttp1(socket);
      if (isHttp2) h2Sockets.add(socket);
      routing = isHttp2 ? socket : undefined;
    });
  });

  return {
    shutdownSignal: shutdown.signal,
    async start() {
      await operator.start();
      return new Promise((resolve, reject) => {
        tcp.once("error", reject);
        tcp.listen({ port: opts.port, host: opts.host, backlog: LISTEN_BACKLOG }, () => {
          tcp.off("error", reject);
          resolve((tcp.address() as net.AddressInfo).port);
        });
      });
    },
    operatorPort: () => operator.port(),
    async stop() {
      opts.health.markShuttingDown();
      const closed = new Promise<void>((resolve) => tcp.close(() => resolve()));
      shutdown.abort(new ConnectError("server is shutting down", Code.Unavailable));
      stopping = true;
      answered.stop();
      for (const session of sessions) session.close();
      // Connections that sent nothing yet, and HTTP/1.1 connections between requests, close
      // now; HTTP/1.1 connections with a request in progress close when it is answered.
      for (const socket of sockets) {
        if (unrouted.has(socket) || (!h2Sockets.has(socket) && !h1Busy.has(socket))) socket.destroy();
      }
      const grace = setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, opts.shutdownGraceMs);
      await closed;
      clearTimeout(grace);
      // Last: probes see NOT_SERVING while the service drains.
      await operator.stop();
    },
  };
}

/**
 * Offers each new stream to `take` before the server's request handler sees it. Node's HTTP/2
 * server turns every "stream" event into a request for its handler and has no way to keep
 * one back, so the offer happens where the event is emitted, on this server only.
 */
function interceptStreams(
  h2: http2.Http2Server,
  take: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean,
): void {
  const emit = h2.emit.bind(h2);
  h2.emit = ((event: string | symbol, ...args: unknown[]) => {
    if (event === "stream" && take(args[0] as http2.ServerHttp2Stream, args[1] as http2.IncomingHttpHeaders)) return true;
    return emit(event, ...args);
  }) as typeof h2.emit;
}

/**
 * Streams whose response is complete while their client is still sending (a bidi stream whose
 * client never half-closes, like `buf curl` reading a terminal). They would keep their
 * connection, and so a graceful stop, open until the grace period ends: once the server is
 * stopping, each is told to stop sending without error (RST_STREAM NO_ERROR, RFC 9113 8.1).
 * Only then: a client may still be sending the rest of a request that was answered early (an
 * error from its headers), and some clients report a reset during their write as a failure.
 */
function watchAnsweredStreams(h2: http2.Http2Server) {
  const halfOpen = new Set<http2.ServerHttp2Stream>();
  let stopping = false;
  /**
   * The reset goes out after the response's end: a RST_STREAM makes nghttp2 drop the frames of
   * the stream it still holds. Node's compatibility API (connect-es) sends trailers once the
   * last data frame is leaving ('wantTrailers'), which can be after 'finish': a reset on
   * 'finish' lost the status, and a client still writing got no status at all ("premature
   * close") instead of UNAVAILABLE. A response ended with its headers (gRPC's trailers-only)
   * has nothing left to send.
   */
  const reset = (stream: http2.ServerHttp2Stream) => {
    const close = () => setImmediate(() => !stream.closed && stream.close(http2.constants.NGHTTP2_NO_ERROR));
    if (stream.sentTrailers !== undefined || stream.sentHeaders["grpc-status"] !== undefined) close();
    else stream.once("wantTrailers", close);
  };
  h2.on("stream", (stream: http2.ServerHttp2Stream) => {
    stream.once("finish", () => {
      if (stream.readableEnded || stream.closed) return;
      if (stopping) return reset(stream);
      halfOpen.add(stream);
      stream.once("close", () => halfOpen.delete(stream));
    });
  });
  return {
    /** Resets the answered streams now, and any answered from now on. */
    stop(): void {
      stopping = true;
      for (const stream of halfOpen) reset(stream);
    },
  };
}

/** Hands a new connection to the HTTP/2 server when it opens with the HTTP/2 preface. */
function routeByPreface(socket: net.Socket, h2: http2.Http2Server, h1: http.Server, routed: (isHttp2: boolean) => void): void {
  let head = Buffer.alloc(0);
  const onReadable = () => {
    let chunk: Buffer | null;
    while ((chunk = socket.read()) !== null) head = Buffer.concat([head, chunk]);
    if (head.length < HTTP2_PREFACE_START.length) return;
    socket.off("readable", onReadable);
    socket.unshift(head);
    const isHttp2 = head.subarray(0, HTTP2_PREFACE_START.length).toString("latin1") === HTTP2_PREFACE_START;
    routed(isHttp2);
    (isHttp2 ? h2 : h1).emit("connection", socket);
  };
  socket.on("readable", onReadable);
}

/** Pings an HTTP/2 connection regularly and destroys it when a ping goes unanswered. */
function keepSessionAlive(session: http2.ServerHttp2Session, intervalMs: number, timeoutMs: number): () => void {
  if (intervalMs <= 0) return () => {};
  const timer = setInterval(() => {
    if (session.closed || session.destroyed) return;
    const deadline = setTimeout(() => session.destroy(), timeoutMs);
    const sent = session.ping((err) => {
      clearTimeout(deadline);
      if (err && !session.destroyed) session.destroy();
    });
    if (!sent) clearTimeout(deadline);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
