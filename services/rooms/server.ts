import type { Registry } from "prom-client";
import type { TokenService } from "../common/auth/tokens.js";
import type { ClockSource } from "../common/clock-source.js";
import { createHealthRegistry } from "../common/health.js";
import type { Logger } from "../common/logger.js";
import { isRedisReady, type RedisClient } from "../common/redis.js";
import { createServiceServer, type ServiceServer } from "../common/server.js";
import { roomsRoutes, roomsServiceNames } from "./routes.js";

export interface RoomsServerDeps {
  redis: RedisClient;
  tokens: TokenService;
  clock: ClockSource;
  logger: Logger;
  metrics: Registry;
  options: { host: string; port: number; shutdownGraceMs: number };
}

/** The rooms service process's server (rooms, presence, guest login); listens on start(). */
export function createRoomsServer(deps: RoomsServerDeps): ServiceServer {
  return createServiceServer({
    host: deps.options.host,
    port: deps.options.port,
    logger: deps.logger,
    metrics: deps.metrics,
    shutdownGraceMs: deps.options.shutdownGraceMs,
    health: createHealthRegistry({ services: roomsServiceNames, probes: [() => isRedisReady(deps.redis)] }),
    routes: roomsRoutes(deps),
  });
}
