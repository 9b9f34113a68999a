import { createClient, type Transport } from "@connectrpc/connect";
import type { Registry } from "prom-client";
import { AuthService } from "../../gen/groovebox/auth/v1/auth_pb.js";
import { ClockSampleService } from "../../gen/groovebox/clock/v1/clock_pb.js";
import { PlaybackService } from "../../gen/groovebox/playback/v1/playback_pb.js";
import { PresenceService, RoomService } from "../../gen/groovebox/room/v1/room_pb.js";
import type { TokenService } from "../common/auth/tokens.js";
import { createInternalTransport, createUnaryProxy } from "../common/clients.js";
import type { ClockSource } from "../common/clock-source.js";
import type { ConfigOf } from "../common/config.js";
import type { Logger } from "../common/logger.js";
import { closeRedis, duplicateRedis, type RedisClient } from "../common/redis.js";
import { createRedisServiceServer } from "../common/server.js";
import { createClientMessageHandler } from "./client-messages.js";
import { createRateLimit } from "../common/rate-limit.js";
import { createCallLimit } from "./call-limit.js";
import { limitLogins } from "./login-limit.js";
import { createStreamLeases } from "./stream-leases.js";
import { createClockReporter } from "./clock-reporter.js";
import type { gatewaySettings } from "./config.js";
import { createGatewayService } from "./gateway-service.js";
import { createGrpcStreams } from "./grpc-streams.js";
import { createStreamCore } from "./stream-core.js";
import { createMemberActivity } from "./member-activity.js";
import { createGatewayMetrics } from "./metrics.js";
import { createRoomHub } from "./room-hub.js";
import { createRoomRefetch } from "./room-refetch.js";
import { createRoomRequests, type RoomRequests } from "./room-requests.js";
import { createPeerClockMonitor } from "./peer-clock-monitor.js";
import { createAuthInterceptor } from "../common/auth/gate.js";
import { createWebPage } from "./web-page.js";
import { gatewayAccess, gatewayRoutes, gatewayServiceNames } from "./routes.js";

/** Where this process reaches a port it listens on at `host` (any address: loopback). */
const loopbackFor = (host: string) => (host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host);

export type GatewayOptions = ConfigOf<typeof gatewaySettings> & { host: string; operatorHost: string; shutdownGraceMs: number };

export interface GatewayServerDeps {
  redis: RedisClient;
  tokens: TokenService;
  clock: ClockSource;
  logger: Logger;
  metrics: Registry;
  options: GatewayOptions;
}

/**
 * The gateway, wired from its dependencies: the public server, the clients of the services
 * behind it, the clock sample reporter, the room fan-out and the stream lease renewal.
 */
export function createGatewayServer(deps: GatewayServerDeps) {
  const { options: o, tokens, clock, logger } = deps;
  const metrics = createGatewayMetrics(deps.metrics);
  const caller = { service: "gateway", tokens, clock };
  const internal = [o.clockUrl, o.roomsUrl, o.playbackUrl].map((url) => createInternalTransport(url, caller, { timeoutMs: o.internalTimeoutMs }));
  const [clockTransport, roomsTransport, playbackTransport] = internal.map((t) => t.transport) as [Transport, Transport, Transport];
  const sampleClient = createClient(ClockSampleService, clockTransport);
  const roomsClient = createClient(RoomService, roomsTransport);
  const playbackClient = createClient(PlaybackService, playbackTransport);

  const reporter = createClockReporter(
    sampleClient,
    { batchDelayMs: o.sampleBatchDelayMs, maxBatch: o.sampleBatchMax, maxQueued: o.sampleBatchMax * 50 },
    logger,
    { onDropped: (n) => metrics.samplesDropped.inc(n), onFailed: (n) => metrics.samplesDropped.inc(n) },
  );
  const subscriber = duplicateRedis(deps.redis, "gateway-events", logger);
  const refetches = createRoomRefetch({ rooms: roomsClient, logger });
  let requests: RoomRequests | undefined;
  const hub = createRoomHub({
    subscriber,
    logger,
    metrics,
    onMemberGone: (session, roomId, reason) => requests?.memberGone(session, roomId, reason),
    onMissed: (roomId, sessions) => void refetches.refetch(roomId, sessions),
  });
  const presenceClient = createClient(PresenceService, roomsTransport);
  const activity = createMemberActivity(presenceClient, logger);
  requests = createRoomRequests({
    presence: presenceClient,
    rooms: roomsClient,
    playback: playbackClient,
    hub,
    reporter,
    logger,
  });
  const roomRequests = requests;
  const streamLeases = createStreamLeases({
    redis: deps.redis,
    clock,
    logger,
    maxPerUser: o.maxStreamsPerUser,
    leaseMs: o.leaseRenewMs * 3,
  });
  const core = createStreamCore({
    clock,
    metrics,
    rooms: roomRequests,
    leases: streamLeases,
    limits: o,
    handleClientMessage: createClientMessageHandler({
      clock,
      reporter,
      rooms: roomRequests,
      metrics,
      logger,
      reportSync: (session, report) =>
        roomsClient.reportSync({ roomId: session.roomId, report }, { headers: { authorization: session.authorization } }),
    }),
  });
  const grpcShutdown = new AbortController();
  const takeStream = o.grpcFastPath
    ? createGrpcStreams({ core, tokens, logger, maxMessageBytes: o.maxMessageBytes, shutdownSignal: grpcShutdown.signal })
    : undefined;

  const calls = createCallLimit(o.maxCallsInProgress, () => metrics.callsRefused.inc());
  const server = createRedisServiceServer(deps, {
    serviceNames: gatewayServiceNames,
    redis: subscriber, // readiness follows the room channels' connection
    readMaxBytes: o.maxMessageBytes,
    takeStream,
    idleTimeoutMs: o.idleTimeoutMs,
    corsOrigins: o.corsOrigins,
    fallback: createWebPage(o.webDir, logger),
    maxPendingConnections: o.maxPendingConnections,
    connectionHandshakeMs: o.connectionHandshakeMs,
    interceptors: [createAuthInterceptor(tokens, gatewayAccess)],
    routes: gatewayRoutes({
      gateway: createGatewayService({ core, logger }),
      auth: calls.wrap(
        limitLogins(createUnaryProxy(AuthService, createClient(AuthService, roomsTransport)), {
          perAddress: createRateLimit(deps.redis, o.loginRatePerAddress, "too many logins from this address"),
          all: createRateLimit(deps.redis, o.loginRate, "too many logins right now (all clients)"),
          trustedProxies: o.trustedProxies,
        }),
      ),
      rooms: calls.wrap(activity.recording(createUnaryProxy(RoomService, roomsClient))),
      playback: calls.wrap(activity.recording(createUnaryProxy(PlaybackService, playbackClient))),
    }),
  });

  const peerClocks = createPeerClockMonitor({
    peers: { clock: clockTransport, rooms: roomsTransport, playback: playbackTransport },
    clock,
    registry: deps.metrics,
    logger,
    intervalMs: o.clockCheckMs,
    rounds: o.clockCheckRounds,
  });

  let renewal: NodeJS.Timeout | undefined;
  return {
    async start(): Promise<number> {
      const port = await server.start();
      renewal = setInterval(() => {
        void roomRequests.renewLeases();
        void streamLeases.renew();
      }, o.leaseRenewMs);
      renewal.unref();
      // The reference of the peer clock check is this gateway's own port, known only now.
      const self = createInternalTransport(`http://${loopbackFor(o.host)}:${port}`, caller, { timeoutMs: o.internalTimeoutMs });
      internal.push(self);
      peerClocks.start(self.transport);
      return port;
    },
    operatorPort: () => server.operatorPort(),
    /** Ends every stream (their rooms are told), flushes clock samples, closes the subscriber. */
    async stop(): Promise<void> {
      clearInterval(renewal);
      peerClocks.stop();
      grpcShutdown.abort();
      refetches.stop();
      await server.stop();
      await roomRequests.settle();
      await reporter.flush();
      for (const t of internal) t.close();
      await closeRedis(subscriber);
    },
  };
}
