import { resolve } from "node:path";
import { createTokenService, resolveJwtSecret, type TokenService } from "./auth/tokens.js";
import { createAnchorReporter } from "./clock/anchor-reporter.js";
import { createHostClock, type HostClock } from "./clock/host-clock.js";
import { ConfigError, commonSettings, loadConfig, type ConfigOf, type ConfigSpec, type EnvSource } from "./config.js";
import { createLogger, type Logger } from "./logger.js";
import { createMetricsRegistry } from "./metrics.js";
import { installProcessGuard } from "./process-guard.js";
import { closeRedis, createRedis, type RedisClient } from "./redis.js";
import type { Registry } from "prom-client";

/** What every service process builds first: config, logger, Redis, tokens, metrics, clock. */
export interface Runtime<S extends ConfigSpec> {
  config: ConfigOf<typeof commonSettings> & ConfigOf<S>;
  logger: Logger;
  redis: RedisClient;
  tokens: TokenService;
  metrics: Registry;
  /** The process's one server time. */
  clock: HostClock;
}

/** Builds a service's runtime from the environment (main.ts only). */
export function createRuntime<S extends ConfigSpec>(service: string, spec: S, env: EnvSource = process.env): Runtime<S> {
  const config = loadConfig({ ...commonSettings, ...spec }, env) as Runtime<S>["config"];
  const logger = createLogger(service, config.logLevel);
  let secret: string;
  try {
    secret = resolveJwtSecret({
      configured: config.jwtSecret,
      nodeEnv: config.nodeEnv,
      devSecretFile: resolve(env.GROOVEBOX_DATA_DIR ?? ".data", "dev-jwt-secret"),
      logger,
    });
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const metrics = createMetricsRegistry(service);
  const clock = createHostClock({ reanchorIntervalMs: config.clockReanchorMs, onAnchor: createAnchorReporter(metrics, logger) });
  const redis = createRedis({
    url: config.redisUrl,
    clusterNodes: config.redisClusterNodes,
    name: service,
    logger,
    commandTimeoutMs: config.redisCommandTimeoutMs,
  });
  return {
    config,
    logger,
    redis,
    tokens: createTokenService({ secret, clock }),
    metrics,
    clock,
  };
}

/** Something running that can be stopped gracefully. */
export interface Stoppable {
  stop(): Promise<void>;
}

/**
 * Runs a service process: starts it, and on SIGTERM or SIGINT (or when the supervisor that
 * started it with an IPC channel goes away) stops it gracefully and exits 0 (a second signal,
 * or a shutdown longer than the grace period and 5 s, exits at once with 1). An unhandled
 * rejection is logged and the process goes on; an uncaught exception is logged and the
 * service is stopped gracefully, exiting 1 (see installProcessGuard).
 * A bad configuration prints its message and exits 1.
 */
export function runMain(
  service: string,
  start: () => Promise<{ running: Stoppable; logger: Logger; shutdownGraceMs: number }>,
): void {
  start().then(
    ({ running, logger, shutdownGraceMs }) => {
      let stopping = false;
      const shutdown = (reason: string, exitCode: 0 | 1) => {
        if (stopping) {
          logger.warn({ reason }, "second signal: exiting now");
          process.exit(1);
        }
        stopping = true;
        logger.info({ reason }, "shutting down");
        // A dependency that does not answer (Redis gone) must not keep the process alive.
        setTimeout(() => {
          logger.error("shutdown did not finish in time; exiting");
          process.exit(1);
        }, shutdownGraceMs + 5000).unref();
        running.stop().then(
          () => {
            logger.info("stopped");
            process.exit(exitCode);
          },
          (err: unknown) => {
            logger.error({ err }, "shutdown failed");
            process.exit(1);
          },
        );
      };
      const onSignal = (signal: NodeJS.Signals) => shutdown(signal, 0);
      process.on("SIGTERM", onSignal);
      process.on("SIGINT", onSignal);
      installProcessGuard(logger, (reason) => !stopping && shutdown(reason, 1));
      // Started by a supervisor with an IPC channel (npm start runs each service in its own
      // process group, out of reach of the terminal's Ctrl-C): stop when it is gone.
      if (process.channel) {
        process.channel.unref();
        process.once("disconnect", () => !stopping && onSignal("SIGTERM"));
      }
    },
    (err: unknown) => {
      if (err instanceof ConfigError) {
        process.stderr.write(`${service}: ${err.message}\n`);
      } else {
        process.stderr.write(`${service}: failed to start: ${(err as Error)?.stack ?? String(err)}\n`);
      }
      process.exit(1);
    },
  );
}

/**
 * The whole main.ts of a service: builds the runtime from the environment, builds the
 * service with it, listens, and on SIGTERM stops the service and then closes Redis.
 */
export function runService<S extends ConfigSpec>(
  service: string,
  spec: S,
  build: (rt: Runtime<S>) => { start(): Promise<number>; stop(): Promise<void>; operatorPort(): number },
): void {
  runMain(service, async () => {
    const rt = createRuntime(service, spec);
    const server = build(rt);
    const port = await server.start();
    rt.logger.info({ port, operatorPort: server.operatorPort() }, `${service} listening`);
    return {
      logger: rt.logger,
      shutdownGraceMs: rt.config.shutdownGraceMs,
      running: {
        async stop() {
          await server.stop();
          await closeRedis(rt.redis);
          rt.clock.stop();
        },
      },
    };
  });
}
