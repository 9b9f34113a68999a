import type { ConnectRouter } from "@connectrpc/connect";
import { AuthService } from "../../gen/groovebox/auth/v1/auth_pb.js";
import type { TokenService } from "../common/auth/tokens.js";
import { createAuthService } from "./auth-service.js";

export interface RoomsDeps {
  tokens: TokenService;
}

export const roomsRoutes = (deps: RoomsDeps) => (router: ConnectRouter) =>
  router.service(AuthService, createAuthService(deps));

export const roomsServiceNames = [AuthService.typeName];
