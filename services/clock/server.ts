import type { Registry } from "prom-client";
import type { TokenService } from "../common/auth/tokens.js";
import type { ClockSource } from "../common/clock-source.js";
import { createHealthRegistry } from "../common/health.js";
import type { Logger } from "../common/logger.js";
import { isRedisReady, type RedisClient } from "../common/redis.js";
import { createServiceServer, type ServiceServer } from "../common/server.js";
import { clockRoutes, clockServiceNames } from "./routes.js";
import { createSampleStore, type SampleStoreOptions } from "./sample-store.js";

export interface ClockServerDeps {
  redis: RedisClient;
  tokens: TokenService;
  clock: ClockSource;
  logger: Logger;
  metrics: Registry;
  options: SampleStoreOptions & { host: string; port: number; shutdownGraceMs: number };
}

/** The clock service process's server, wired from its dependencies; listens on start(). */
export function createClockServer(deps: ClockServerDeps): ServiceServer {
  const store = createSampleStore(deps.redis, deps.options);
  return createServiceServer({
    host: deps.options.host,
    port: deps.options.port,
    logger: deps.logger,
    metrics: deps.metrics,
    shutdownGraceMs: deps.options.shutdownGraceMs,
    health: createHealthRegistry({ services: clockServiceNames, probes: [() => isRedisReady(deps.redis)] }),
    routes: clockRoutes({ store, clock: deps.clock, tokens: deps.tokens }),
  });
}
