import type { ConnectRouter, ServiceImpl } from "@connectrpc/connect";
import { AuthService } from "../../gen/groovebox/auth/v1/auth_pb.js";
import { ClockService } from "../../gen/groovebox/clock/v1/clock_pb.js";
import { GatewayService } from "../../gen/groovebox/gateway/v1/gateway_pb.js";
import { PlaybackService } from "../../gen/groovebox/playback/v1/playback_pb.js";
import { RoomService } from "../../gen/groovebox/room/v1/room_pb.js";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { createAuthGate } from "../common/auth/gate.js";
import { reflectionRoutes } from "../common/reflection.js";
import type { TokenService } from "../common/auth/tokens.js";

export interface GatewayRoutesDeps {
  tokens: TokenService;
  gateway: ServiceImpl<typeof GatewayService>;
  /** Served at the edge: pings are stamped where they enter. */
  clock: Partial<ServiceImpl<typeof ClockService>>;
  /** Proxies to the services behind the gateway. */
  auth: Partial<ServiceImpl<typeof AuthService>>;
  rooms: Partial<ServiceImpl<typeof RoomService>>;
  playback: Partial<ServiceImpl<typeof PlaybackService>>;
}

/** The services of the public port (besides health and reflection). */
const publicServices = [GatewayService, ClockService, AuthService, RoomService, PlaybackService];

/**
 * The public port: the gateway's streams, the edge clock, the proxied public services, and
 * server reflection describing them (and health).
 */
export const gatewayRoutes = (deps: GatewayRoutesDeps) => (router: ConnectRouter) => {
  const userOnly = { requestGate: createAuthGate(deps.tokens, "user") };
  router
    .service(GatewayService, deps.gateway, userOnly)
    .service(ClockService, deps.clock)
    .service(AuthService, deps.auth)
    .service(RoomService, deps.rooms, userOnly)
    .service(PlaybackService, deps.playback, userOnly);
  reflectionRoutes([...publicServices, Health])(router);
};

export const gatewayServiceNames = publicServices.map((s) => s.typeName);
