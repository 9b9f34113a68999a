import type { Registry } from "prom-client";
import type { TokenService } from "../common/auth/tokens.js";
import type { ClockSource } from "../common/clock-source.js";
import type { Logger } from "../common/logger.js";
import { closeRedis, createQueueConnection, startWhenRedisReady, type RedisClient } from "../common/redis.js";
import { createRedisServiceServer, type ServiceAddressOptions } from "../common/server.js";
import { allHooks, createCommandRunner, type CommandRunner } from "./command-runner.js";
import type { SyncOptions } from "./config.js";
import type { BufferOptions } from "./timeline.js";
import { createPlaybackStore } from "./playback-store.js";
import { createAuthInterceptor } from "../common/auth/gate.js";
import { playbackAccess, playbackRoutes, playbackServiceNames } from "./routes.js";
import { createSyncSchedule } from "./sync-schedule.js";
import { createTrackEndTimer } from "./track-end.js";

export interface PlaybackServerDeps {
  redis: RedisClient;
  tokens: TokenService;
  clock: ClockSource;
  logger: Logger;
  metrics: Registry;
  options: BufferOptions &
    SyncOptions &
    ServiceAddressOptions & {
      rttFreshMs: number;
      redisUrl: string;
      redisClusterNodes: ReadonlyArray<{ host: string; port: number }>;
    };
}

/** The playback service: the timeline commands, the track-end timer, the 10 s sync's schedule, and its server. */
export function createPlaybackServer(deps: PlaybackServerDeps) {
  const { options: o, clock, logger, tokens } = deps;
  const store = createPlaybackStore(deps.redis);
  let run: CommandRunner | undefined;
  const queueConnection = createQueueConnection({ url: o.redisUrl, clusterNodes: o.redisClusterNodes, name: "playback-queue" });
  const trackEnd = createTrackEndTimer({
    connection: queueConnection,
    clock,
    logger,
    run: () => run!,
  });
  const syncSchedule = createSyncSchedule({ redis: deps.redis, connection: queueConnection, store, clock, options: o, logger });
  run = createCommandRunner({ store, clock, hooks: allHooks(trackEnd.hooks, syncSchedule.hooks), logger, rttFreshMs: o.rttFreshMs });
  const server = createRedisServiceServer(deps, {
    serviceNames: playbackServiceNames,
    redis: deps.redis,
    interceptors: [createAuthInterceptor(tokens, playbackAccess)],
    routes: playbackRoutes({
      store,
      run,
      clock,
      buffer: o,
    }),
  });
  let trackEndStart = { cancel: () => {} };
  return {
    async start(): Promise<number> {
      const port = await server.start();
      // A track end taken before this process's own Redis answers would fail and wait for its retry.
      trackEndStart = startWhenRedisReady(deps.redis, () => trackEnd.start());
      return port;
    },
    operatorPort: () => server.operatorPort(),
    async stop(): Promise<void> {
      trackEndStart.cancel();
      await server.stop();
      await trackEnd.stop();
      await syncSchedule.close();
      await closeRedis(queueConnection);
    },
  };
}
