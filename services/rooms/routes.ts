import type { ConnectRouter } from "@connectrpc/connect";
import { AuthService } from "../../gen/groovebox/auth/v1/auth_pb.js";
import { PresenceService, RoomService } from "../../gen/groovebox/room/v1/room_pb.js";
import type { Access } from "../common/auth/gate.js";
import type { TokenService } from "../common/auth/tokens.js";
import { createAuthService } from "./auth-service.js";
import type { DeviceStore } from "./device-store.js";
import { createMemberSyncService } from "./member-sync-service.js";
import { createPresenceService } from "./presence-service.js";
import { createRoomService, type RoomServiceDeps } from "./room-service.js";

export interface RoomsDeps extends RoomServiceDeps {
  tokens: TokenService;
  devices: DeviceStore;
}

/**
 * Login is public; rooms need a user (or a gateway acting for its streams); presence is for
 * gateways only.
 */
export const roomsRoutes = (deps: RoomsDeps) => (router: ConnectRouter) =>
  router
    .service(AuthService, createAuthService(deps))
    .service(RoomService, { ...createRoomService(deps), ...createMemberSyncService(deps) })
    .service(PresenceService, createPresenceService(deps));

export const roomsAccess: Record<string, Access> = {
  [RoomService.typeName]: "user-or-service",
  [PresenceService.typeName]: "service",
};

export const roomsServiceNames = [AuthService.typeName, RoomService.typeName, PresenceService.typeName];
