import type { Registry } from "prom-client";
import type { TokenService } from "../common/auth/tokens.js";
import type { ClockSource } from "../common/clock-source.js";
import type { Logger } from "../common/logger.js";
import type { RedisClient } from "../common/redis.js";
import { createRedisServiceServer, type ServiceAddressOptions, type ServiceServer } from "../common/server.js";
import { createAuthInterceptor } from "../common/auth/gate.js";
import { clockAccess, clockRoutes, clockServiceNames } from "./routes.js";
import { createSampleStore, type SampleStoreOptions } from "./sample-store.js";

export interface ClockServerDeps {
  redis: RedisClient;
  tokens: TokenService;
  clock: ClockSource;
  logger: Logger;
  metrics: Registry;
  options: SampleStoreOptions & ServiceAddressOptions;
}

/** The clock service process's server, wired from its dependencies; listens on start(). */
export function createClockServer(deps: ClockServerDeps): ServiceServer {
  const store = createSampleStore(deps.redis, deps.options);
  return createRedisServiceServer(deps, {
    serviceNames: clockServiceNames,
    redis: deps.redis,
    routes: clockRoutes({ store, clock: deps.clock }),
    interceptors: [createAuthInterceptor(deps.tokens, clockAccess)],
  });
}
