import type { ConnectRouter, ServiceImpl } from "@connectrpc/connect";
import { AuthService } from "../../gen/groovebox/auth/v1/auth_pb.js";
import { ClockService } from "../../gen/groovebox/clock/v1/clock_pb.js";
import { GatewayService } from "../../gen/groovebox/gateway/v1/gateway_pb.js";
import { PlaybackService } from "../../gen/groovebox/playback/v1/playback_pb.js";
import { RoomService } from "../../gen/groovebox/room/v1/room_pb.js";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import type { Access } from "../common/auth/gate.js";
import { reflectionRoutes } from "../common/reflection.js";

export interface GatewayRoutesDeps {
  gateway: ServiceImpl<typeof GatewayService>;
  /** Proxies to the services behind the gateway. */
  auth: Partial<ServiceImpl<typeof AuthService>>;
  rooms: Partial<ServiceImpl<typeof RoomService>>;
  playback: Partial<ServiceImpl<typeof PlaybackService>>;
}

/**
 * The gateway's own services on the public port. ClockService/Ping, the edge clock, and health
 * are on every service's port (common/server.ts).
 */
const gatewayServices = [GatewayService, AuthService, RoomService, PlaybackService];

/**
 * The public port: the gateway's streams, the proxied public services, and server reflection
 * describing them, the edge clock and health.
 */
export const gatewayRoutes = (deps: GatewayRoutesDeps) => (router: ConnectRouter) => {
  router
    .service(GatewayService, deps.gateway)
    .service(AuthService, deps.auth)
    .service(RoomService, deps.rooms)
    .service(PlaybackService, deps.playback);
  reflectionRoutes([...gatewayServices, ClockService, Health])(router);
};

/** Login is public; everything else on the public port needs a user token. */
export const gatewayAccess: Record<string, Access> = {
  [GatewayService.typeName]: "user",
  [RoomService.typeName]: "user",
  [PlaybackService.typeName]: "user",
};

export const gatewayServiceNames = gatewayServices.map((s) => s.typeName);
