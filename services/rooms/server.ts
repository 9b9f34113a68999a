import type { Registry } from "prom-client";
import { createRateLimit, type Rate } from "../common/rate-limit.js";
import type { TokenService } from "../common/auth/tokens.js";
import type { ClockSource } from "../common/clock-source.js";
import type { Logger } from "../common/logger.js";
import type { RedisClient } from "../common/redis.js";
import { createRedisServiceServer, type ServiceAddressOptions } from "../common/server.js";
import { createDeviceStore, DEFAULT_DEVICE_TTL_MS } from "./device-store.js";
import { createPresenceSweeper } from "./presence-sweeper.js";
import { createRoomStore, type RoomStoreOptions } from "./room-store.js";
import { createAuthInterceptor } from "../common/auth/gate.js";
import { roomsAccess, roomsRoutes, roomsServiceNames } from "./routes.js";

export interface RoomsServerDeps {
  redis: RedisClient;
  tokens: TokenService;
  clock: ClockSource;
  logger: Logger;
  metrics: Registry;
  options: RoomStoreOptions & ServiceAddressOptions & { sweepIntervalMs: number; createRoomRate: Rate; deviceTtlMs?: number };
}

/** The rooms service (rooms, presence, guest login) with its presence sweeper. */
export function createRoomsServer(deps: RoomsServerDeps) {
  const store = createRoomStore(deps.redis, deps.options, deps.logger);
  const devices = createDeviceStore(deps.redis, { ttlMs: deps.options.deviceTtlMs ?? DEFAULT_DEVICE_TTL_MS });
  const sweeper = createPresenceSweeper({ store, clock: deps.clock, logger: deps.logger, intervalMs: deps.options.sweepIntervalMs });
  const server = createRedisServiceServer(deps, {
    serviceNames: roomsServiceNames,
    redis: deps.redis,
    interceptors: [createAuthInterceptor(deps.tokens, roomsAccess)],
    routes: roomsRoutes({
      store,
      devices,
      clock: deps.clock,
      tokens: deps.tokens,
      logger: deps.logger,
      creationLimit: createRateLimit(deps.redis, deps.options.createRoomRate, "too many rooms created"),
    }),
  });
  return {
    store,
    sweeper,
    async start(): Promise<number> {
      const port = await server.start();
      sweeper.start();
      return port;
    },
    operatorPort: () => server.operatorPort(),
    async stop(): Promise<void> {
      await sweeper.stop();
      await server.stop();
    },
  };
}
