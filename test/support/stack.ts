import { randomBytes } from "node:crypto";
import { Cluster, Redis } from "ioredis";
import { Registry } from "prom-client";
import type { Rate } from "../../services/common/rate-limit.js";
import { createTokenService, type TokenService } from "../../services/common/auth/tokens.js";
import type { ClockSource } from "../../services/common/clock-source.js";
import { createHostClock } from "../../services/common/clock/host-clock.js";
import { hostPortListSetting } from "../../services/common/config.js";
import { createLogger, type Logger } from "../../services/common/logger.js";
import { closeRedis, createRedis, SLOTS_REFRESH_TIMEOUT_MS, type RedisClient } from "../../services/common/redis.js";
import { createClockServer } from "../../services/clock/server.js";
import type { SampleStoreOptions } from "../../services/clock/sample-store.js";
import { createGatewayServer, type GatewayOptions } from "../../services/gateway/server.js";
import { createRoomsServer } from "../../services/rooms/server.js";
import { createPlaybackServer } from "../../services/playback/server.js";
import { eventually, WAIT_MS } from "./eventually.js";
import type { RedisTarget } from "./redis-server.js";
import { createSchedulerServer } from "../../services/scheduler/server.js";
import type { BufferOptions } from "../../services/playback/timeline.js";

/** The Redis of the test run (see global-setup.ts): read as the services read it. */
export function testRedisTarget(): RedisTarget {
  return {
    url: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
    clusterNodes: hostPortListSetting("REDIS_CLUSTER_NODES").parse(process.env.REDIS_CLUSTER_NODES || undefined),
  };
}

/** A logger for services under test: silent unless TEST_LOG_LEVEL is set. */
export const testLogger = (name: string): Logger => createLogger(name, process.env.TEST_LOG_LEVEL ?? "silent");

/**
 * How long a command of a service under test may take: longer than in production (1.5 s),
 * since a loaded 2-core machine can stall the process that long; a command still waits for
 * nothing when Redis is down (it fails at once then).
 */
const TEST_COMMAND_TIMEOUT_MS = 10_000;

/** A service's connection, as main.ts would make it (but for the command timeout). */
export function testRedis(name: string, target = testRedisTarget()): RedisClient {
  return createRedis({ ...target, name, logger: testLogger(name), commandTimeoutMs: TEST_COMMAND_TIMEOUT_MS });
}

/**
 * A plain connection for looking at Redis from a test (a cluster client in cluster mode). It
 * connects on its first command, so a test file whose tests are filtered out leaves no
 * connection behind.
 */
export function inspectRedis(target = testRedisTarget()): RedisClient {
  return target.clusterNodes.length > 0
    ? new Cluster(target.clusterNodes, { lazyConnect: true, slotsRefreshTimeout: SLOTS_REFRESH_TIMEOUT_MS })
    : new Redis(target.url, { lazyConnect: true });
}

/** A rate no test reaches. */
const UNLIMITED: Rate = { points: 1_000_000_000, durationS: 1 };

export interface StackOptions {
  /** The services' JWT secret (processes started beside the stack need the same); random by default. */
  jwtSecret?: string;
  /** Where the gateways find rooms and playback, when not the stack's own (e.g. child processes). */
  gatewayPeers?: { roomsUrl?: string; playbackUrl?: string };
  clock?: ClockSource;
  roomsClock?: ClockSource;
  /** Another Redis than the run's (e.g. one the test stops and starts). */
  redis?: RedisTarget;
  gateways?: number;
  rooms?: Partial<{ graceMs: number; idleMs: number; leaseMs: number; emptyRoomTtlMs: number; sweepIntervalMs: number; createRoomRate: Rate }>;
  clockStore?: Partial<
    Pick<SampleStoreOptions, "rttFreshMs" | "maxSampleAgeMs" | "windowSize" | "sessionTtlMs" | "sessionCacheSize" | "rttIndexStepMs" | "rttIndexStepRatio">
  >;
  gateway?: Partial<GatewayOptions>;
  buffer?: Partial<BufferOptions>;
  /** How long each service's stop waits for open calls (default 2 s). */
  shutdownGraceMs?: number;
  /** The services' loggers (default: silent, see testLogger). */
  logger?: (service: string) => Logger;
  /** Scheduler processes (in this process) sending the periodic playback_sync; none by default. */
  schedulers?: number;
  sync?: Partial<SyncTestOptions>;
}

export interface SyncTestOptions {
  syncQueueTag: string;
  syncIntervalMs: number;
  syncLeadMs: number;
  syncMaxLatenessMs: number;
  syncConcurrency: number;
  syncReconcileIntervalMs: number;
}

/** The sync settings of a test stack: a production-like interval unless a test says otherwise. */
export const testSyncOptions = (given: Partial<SyncTestOptions> = {}): SyncTestOptions => ({
  // A queue of its own: test files share one Redis.
  syncQueueTag: `playback-sync-${randomBytes(6).toString("hex")}`,
  syncIntervalMs: 10_000,
  syncLeadMs: 50,
  // Never skip a tick for lateness in tests: a loaded machine must not change what arrives.
  syncMaxLatenessMs: 60_000,
  syncConcurrency: 100,
  syncReconcileIntervalMs: 60_000,
  ...given,
});

export interface Stack {
  tokens: TokenService;
  gatewayUrls: string[];
  /** Each service's operators' port (GET /healthz, /metrics); gateways in gatewayUrls' order. */
  operatorUrls: { gateways: string[]; clock: string; rooms: string; playback: string };
  clockUrl: string;
  roomsUrl: string;
  playbackUrl: string;
  rooms: ReturnType<typeof createRoomsServer>;
  schedulers: TestScheduler[];
  /** The sync settings of the stack's playback service and schedulers. */
  sync: SyncTestOptions;
  /** The services' clock. */
  clock: ClockSource;
  stop(): Promise<void>;
}

/** A scheduler running in this process: its health and metrics at `operatorUrl`. */
export interface TestScheduler {
  operatorUrl: string;
  server: ReturnType<typeof createSchedulerServer>;
  stop(): Promise<void>;
}

/** Starts a scheduler in this process with its own Redis connection; resolves once it has reconciled. */
export async function startTestScheduler(opts: {
  name: string;
  redis?: RedisTarget;
  clock: ClockSource;
  sync: SyncTestOptions;
  logger?: Logger;
}): Promise<TestScheduler> {
  const target = opts.redis ?? testRedisTarget();
  const redis = testRedis(opts.name, target);
  const server = createSchedulerServer({
    redis,
    clock: opts.clock,
    logger: opts.logger ?? testLogger(opts.name),
    metrics: new Registry(),
    options: {
      host: "127.0.0.1",
      port: 0,
      operatorHost: "127.0.0.1",
      operatorPort: 0,
      shutdownGraceMs: 2000,
      redisUrl: target.url,
      redisClusterNodes: target.clusterNodes,
      ...opts.sync,
    },
  });
  const stop = () => server.stop().finally(() => closeRedis(redis));
  try {
    await server.start();
    await server.reconciled();
    const operatorUrl = `http://127.0.0.1:${server.operatorPort()}`;
    await eventually(async () => ((await fetch(`${operatorUrl}/healthz`)).ok ? true : undefined), WAIT_MS, `${opts.name} healthy`);
    return { operatorUrl, server, stop };
  } catch (err) {
    // A scheduler that failed to start must not keep its ports open (Jest would never exit).
    await stop();
    throw err;
  }
}

/**
 * Starts the services in this process, each on its own port (port 0) with its own Redis
 * connection, talking HTTP/2 to each other as in production.
 */
export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const toStop: Array<() => Promise<void>> = [];
  try {
    return await buildStack(opts, toStop);
  } catch (err) {
    // A stack that failed half-way must not keep the started services' ports open (Jest would
    // never exit).
    await stopInReverse(toStop).catch(() => undefined);
    throw err;
  }
}

/** Stops each service even when another fails, the last started first; rethrows the first failure. */
async function stopInReverse(toStop: ReadonlyArray<() => Promise<void>>): Promise<void> {
  const failures: unknown[] = [];
  for (const stop of [...toStop].reverse()) await stop().catch((err: unknown) => failures.push(err));
  if (failures.length > 0) throw failures[0];
}

async function buildStack(opts: StackOptions, toStop: Array<() => Promise<void>>): Promise<Stack> {
  const secret = opts.jwtSecret ?? randomBytes(32).toString("hex");
  let clock = opts.clock;
  if (!clock) {
    const hostClock = createHostClock();
    toStop.push(async () => hostClock.stop());
    clock = hostClock;
  }
  const tokens = createTokenService({ secret, clock });
  const common = { host: "127.0.0.1", port: 0, operatorHost: "127.0.0.1", operatorPort: 0, shutdownGraceMs: opts.shutdownGraceMs ?? 2000 };
  const operatorUrl = (server: { operatorPort(): number }) => `http://127.0.0.1:${server.operatorPort()}`;
  const redisTarget = opts.redis ?? testRedisTarget();
  const logger = opts.logger ?? testLogger;
  const sync = testSyncOptions(opts.sync);

  const clockRedis = testRedis("clock", redisTarget);
  const clockServer = createClockServer({
    redis: clockRedis,
    tokens,
    clock,
    logger: logger("clock"),
    metrics: new Registry(),
    options: {
      ...common,
      windowSize: 16,
      maxSampleAgeMs: 120_000,
      maxRttMs: 10_000,
      clientResolutionMs: 1,
      sessionTtlMs: 300_000,
      rttFreshMs: 30_000,
      sessionCacheSize: 20_000,
      // Every move of a session's round trip reaches the room index, so tests see exact values.
      rttIndexStepMs: 0,
      rttIndexStepRatio: 0,
      ...opts.clockStore,
    },
  });
  const clockUrl = `http://127.0.0.1:${await clockServer.start()}`;
  const operatorUrls: Stack["operatorUrls"] = { gateways: [], clock: operatorUrl(clockServer), rooms: "", playback: "" };
  toStop.push(() => clockServer.stop().finally(() => closeRedis(clockRedis)));

  const roomsRedis = testRedis("rooms", redisTarget);
  const rooms = createRoomsServer({
    redis: roomsRedis,
    tokens,
    clock: opts.roomsClock ?? clock,
    logger: logger("rooms"),
    metrics: new Registry(),
    options: { ...common, graceMs: 30_000, idleMs: 600_000, leaseMs: 30_000, emptyRoomTtlMs: 60_000, sweepIntervalMs: 60_000, createRoomRate: UNLIMITED, ...opts.rooms },
  });
  const roomsUrl = `http://127.0.0.1:${await rooms.start()}`;
  operatorUrls.rooms = operatorUrl(rooms);
  toStop.push(() => rooms.stop().finally(() => closeRedis(roomsRedis)));

  const playbackRedis = testRedis("playback", redisTarget);
  const playback = createPlaybackServer({
    redis: playbackRedis,
    tokens,
    clock,
    logger: logger("playback"),
    metrics: new Registry(),
    options: {
      ...common,
      // The room round-trip index's freshness: the clock service's, as in production.
      rttFreshMs: opts.clockStore?.rttFreshMs ?? 30_000,
      redisUrl: redisTarget.url,
      redisClusterNodes: redisTarget.clusterNodes,
      rttMultiplier: 2,
      minBufferMs: 100,
      maxBufferMs: 500,
      defaultRttMs: 50,
      maxOutputLatencyMs: 1000,
      ...opts.buffer,
      ...sync,
    },
  });
  const playbackUrl = `http://127.0.0.1:${await playback.start()}`;
  operatorUrls.playback = operatorUrl(playback);
  toStop.push(() => playback.stop().finally(() => closeRedis(playbackRedis)));

  const schedulers: TestScheduler[] = [];
  for (let i = 0; i < (opts.schedulers ?? 0); i++) {
    const scheduler = await startTestScheduler({ name: `scheduler-${i}`, redis: redisTarget, clock, sync });
    schedulers.push(scheduler);
    toStop.push(() => scheduler.stop());
  }

  const gatewayUrls: string[] = [];
  for (let i = 0; i < (opts.gateways ?? 1); i++) {
    const redis = testRedis(`gateway-${i}`, redisTarget);
    const gateway = createGatewayServer({
      redis,
      tokens,
      clock,
      logger: logger(`gateway-${i}`),
      metrics: new Registry(),
      options: {
        ...common,
        clockUrl,
        roomsUrl: opts.gatewayPeers?.roomsUrl ?? roomsUrl,
        playbackUrl: opts.gatewayPeers?.playbackUrl ?? playbackUrl,
        maxPingsPerSecond: 10,
        pingBurst: 20,
        maxPingViolations: 50,
        maxMessageBytes: 64 * 1024,
        outboundCapacity: 256,
        maxPendingRequests: 16,
        maxStreamsPerUser: 16,
        sampleBatchDelayMs: 5,
        sampleBatchMax: 1000,
        leaseRenewMs: 10_000,
        grpcFastPath: true,
        // Long enough that a test's client never meets an idle GOAWAY between two calls on a loaded
        // machine (a call racing the GOAWAY is refused, REFUSED_STREAM); idle-connections.test.ts
        // sets its own.
        idleTimeoutMs: 300_000,
        clockCheckMs: 0,
        clockCheckRounds: 10,
        corsOrigins: [],
        maxPendingConnections: 256,
        connectionHandshakeMs: 1000,
        maxCallsInProgress: 256,
        // A loaded machine may take seconds to answer: tests that expect a deadline set their own.
        internalTimeoutMs: WAIT_MS,
        // Every test logs in from 127.0.0.1: the limits are tested where they are set low.
        loginRatePerAddress: UNLIMITED,
        loginRate: UNLIMITED,
        trustedProxies: new Set<string>(),
        webDir: undefined,
        ...opts.gateway,
      },
    });
    gatewayUrls.push(`http://127.0.0.1:${await gateway.start()}`);
    operatorUrls.gateways.push(operatorUrl(gateway));
    toStop.push(() => gateway.stop().finally(() => closeRedis(redis)));
  }

  // Ready as a deployment would see it: every service reports healthy (its Redis is connected).
  for (const url of [operatorUrls.clock, operatorUrls.rooms, operatorUrls.playback, ...operatorUrls.gateways]) {
    await eventually(async () => ((await fetch(`${url}/healthz`)).ok ? true : undefined), WAIT_MS, `${url} healthy`);
  }

  let stopped: Promise<void> | undefined;
  return {
    tokens,
    gatewayUrls,
    operatorUrls,
    clockUrl,
    roomsUrl,
    playbackUrl,
    rooms,
    schedulers,
    sync,
    clock,
    /**
     * Stops every service (each even when another fails), gateways first; rethrows the first
     * failure. Calling it again returns the same stop.
     */
    stop() {
      stopped ??= stopInReverse(toStop);
      return stopped;
    },
  };
}
