import { createHash } from "node:crypto";
import { Cluster, Redis, type RedisOptions } from "ioredis";
import type { Logger } from "./logger.js";
import { retryWithBackoff, type Backoff } from "./retry.js";

/** A connection to a single Redis or to a Redis Cluster; the code uses one API for both. */
export type RedisClient = Redis | Cluster;

export interface RedisConnectionOptions {
  /** redis://host:port of a single Redis (used when clusterNodes is empty). */
  url: string;
  /** Seed nodes of a Redis Cluster; when set, the client is a Cluster client. */
  clusterNodes?: ReadonlyArray<{ host: string; port: number }>;
  /** A name for logs and CLIENT LIST. */
  name: string;
  logger: Logger;
  /**
   * How long a command may wait (also while Redis is unreachable) before it fails. Callers
   * map the failure to UNAVAILABLE, so a Redis outage answers in about this long, not never.
   */
  commandTimeoutMs?: number;
}

/**
 * How long a cluster client waits for a node's CLUSTER SLOTS answer before it asks the next
 * node. ioredis's 1 s is shorter than a busy process's event loop may stall: the timer then
 * fires before the answer is read, every node "fails" in turn, and the client never becomes
 * ready. A node that is down refuses the connection at once, so a longer wait costs nothing then.
 */
export const SLOTS_REFRESH_TIMEOUT_MS = 5000;

function connectionOptions(opts: RedisConnectionOptions): RedisOptions {
  return {
    connectionName: opts.name,
    commandTimeout: opts.commandTimeoutMs ?? 1500,
    // Queue commands briefly while reconnecting, but fail them after one retry: callers
    // answer UNAVAILABLE and clients retry, instead of requests piling up.
    maxRetriesPerRequest: 1,
    enableAutoPipelining: true,
    // Reconnect forever, at most once a second: the service recovers by itself.
    retryStrategy: (attempt: number) => Math.min(attempt * 100, 1000),
  };
}

/**
 * Connects to Redis (or a Redis Cluster when REDIS_CLUSTER_NODES is set). Connection
 * problems are logged once per change of state, not once per retry.
 */
export function createRedis(opts: RedisConnectionOptions): RedisClient {
  const base = connectionOptions(opts);
  const client: RedisClient =
    opts.clusterNodes && opts.clusterNodes.length > 0
      ? routeEachSlotApart(new Cluster([...opts.clusterNodes], {
          redisOptions: { ...base, retryStrategy: undefined, enableAutoPipelining: false } as Cluster["options"]["redisOptions"],
          clusterRetryStrategy: base.retryStrategy!,
          // The cluster client has no time limit for commands queued while no node is reachable:
          // fail them at once instead (callers answer UNAVAILABLE), as a single Redis does after
          // commandTimeout.
          enableOfflineQueue: false,
          // No automatic pipelines on a cluster: ioredis sends one per node, and when a slot has
          // moved (a failover, a resharding) the node answers MOVED for some of its commands;
          // ioredis follows a redirection only when every command of the pipeline got the same
          // one, so the others fail with MOVED, and keep going to the old node
          // (redis/ioredis#2075, open for ioredis 6). One command at a time, each follows its
          // MOVED, ASK or TRYAGAIN.
          enableAutoPipelining: false,
          // A multi-key command (every room script) on a slot that is being moved, with its keys
          // on both sides, is answered TRYAGAIN; ioredis tries again, 50 ms apart, up to
          // maxRedirections times, all within the command's one timeout (it starts at the first
          // send). 8 tries (about 400 ms) end well inside it also when a loaded event loop
          // stretches each pause (16, about 800 ms, likely did not once: a room read answered
          // UNAVAILABLE while its slot moved), so the error says TRYAGAIN, and LuaScript.run
          // tries on with a new command (see MIGRATION_BACKOFF). The limit is the client's: a
          // plain multi-key command (a MULTI, a DEL of a session's keys) on a moving slot fails
          // after those 400 ms, and the tries after CLUSTERDOWN or a closed connection (100 ms
          // apart, in a failover) count too; all of these answer UNAVAILABLE, and clients retry.
          retryDelayOnTryAgain: 50,
          maxRedirections: 8,
          // Sharded pub/sub needs subscribers per shard; refreshing slots keeps them across a
          // failover (ioredis 5 otherwise loses sharded subscriptions).
          shardedSubscribers: true,
          slotsRefreshInterval: 5000,
          slotsRefreshTimeout: SLOTS_REFRESH_TIMEOUT_MS,
        }))
      : new Redis(opts.url, base);
  watchConnection(client, opts.logger.child({ redis: opts.name }));
  return client;
}

/**
 * A connection for BullMQ: it blocks on its connections and retries commands itself, so it
 * needs maxRetriesPerRequest null and never shares the services' connection.
 *
 * No `blockingTimeout` (ioredis 6's client-side limit for blocking commands), on purpose: it
 * arms a referenced timer per blocking command, also for one waiting in the offline queue while
 * the connection is reconnecting, and a disconnect() in that state flushes nothing
 * (redis/ioredis#1247), so the timer keeps a stopped process alive until it fires. A worker's
 * BZPOPMIN on a master that died needs no such limit: ioredis rejects it when the connection
 * closes, and BullMQ (6.7) races each one against a watchdog of its timeout + 1 s that resets the
 * blocking connection (the failover test kills the master of both queues while workers wait).
 */
export function createQueueConnection(opts: Pick<RedisConnectionOptions, "url" | "clusterNodes" | "name">): RedisClient {
  if (opts.clusterNodes && opts.clusterNodes.length > 0) {
    return routeEachSlotApart(new Cluster([...opts.clusterNodes], {
      redisOptions: { connectionName: opts.name, maxRetriesPerRequest: null },
      slotsRefreshTimeout: SLOTS_REFRESH_TIMEOUT_MS,
      // No ready check (CLUSTER INFO until cluster_state:ok): when it fails, ioredis reconnects
      // but never settles the connect() that asked, and BullMQ awaits that promise when it
      // resets a worker's blocking connection (its watchdog does, after a BZPOPMIN on a master
      // that died); the worker then waits forever. Connected without it while the cluster is
      // down, commands get CLUSTERDOWN, which ioredis and BullMQ retry.
      enableReadyCheck: false,
    }));
  }
  return new Redis(opts.url, { connectionName: opts.name, maxRetriesPerRequest: null });
}

/** A second connection with the same settings, for subscriber mode. */
export function duplicateRedis(client: RedisClient, name: string, logger: Logger): RedisClient {
  const copy: RedisClient = client instanceof Cluster ? routeEachSlotApart(client.duplicate()) : client.duplicate();
  watchConnection(copy, logger.child({ redis: name }));
  return copy;
}

/**
 * Keeps a MOVED for one slot from redirecting the slot's neighbours. ioredis (6.0) fills its slot
 * map from CLUSTER SLOTS with one array per range, shared by every slot of the range, and follows
 * a MOVED by overwriting that array (`slots[slot][0] = node`): the whole range then points at the
 * node that took one slot. When one slot of a master moves (a rebalance), commands for the
 * range's other slots go there, are sent back with MOVED, which points the range back, and the
 * next command of the moved slot points it over again; a plain command whose tries all land on
 * the wrong side gives up after maxRedirections (UNAVAILABLE), until a slot refresh ends the
 * to and fro. Each slot gets its own array when the map is read ("refresh" is emitted in the
 * same tick), so a MOVED changes only its own slot.
 */
function routeEachSlotApart(cluster: Cluster): Cluster {
  cluster.on("refresh", () => {
    const slots = cluster.slots;
    for (let slot = 0; slot < slots.length; slot++) if (slots[slot] !== undefined) slots[slot] = [...slots[slot]!];
  });
  return cluster;
}

function watchConnection(client: RedisClient, log: Logger): void {
  let healthy = true;
  client.on("ready", () => {
    if (!healthy) log.info("redis connection restored");
    healthy = true;
  });
  client.on("error", (err: Error) => {
    if (healthy) log.warn({ err }, "redis connection lost; reconnecting");
    healthy = false;
  });
}

/** True when the client can run commands now. */
export function isRedisReady(client: RedisClient): boolean {
  return client.status === "ready";
}

/**
 * Runs `start` once the client can run commands (at once when it can). A cluster client fails
 * commands while it is still loading its slots (no offline queue, see createRedis), so a
 * process that takes work from a BullMQ queue, whose connection is its own and may be ready
 * sooner, starts taking it only then. `cancel` stops waiting (a stop before Redis answered).
 */
export function startWhenRedisReady(client: RedisClient, start: () => void): { cancel(): void } {
  if (isRedisReady(client)) {
    start();
    return { cancel: () => {} };
  }
  client.once("ready", start);
  return { cancel: () => client.off("ready", start) };
}

/**
 * Closes a connection and resolves once it is closed for good: QUIT when connected (pending
 * replies arrive first), else disconnect. Closing a closed connection does nothing, so two
 * stops never leave ioredis's timer for a second close behind.
 */
export async function closeRedis(client: RedisClient): Promise<void> {
  try {
    await closeConnection(client);
  } finally {
    if (client instanceof Cluster) stopSlotsRefresh(client);
  }
}

async function closeConnection(client: RedisClient): Promise<void> {
  if (client.status === "end") return;
  const ended = new Promise<void>((resolve) => client.once("end", () => resolve()));
  if (client.status === "ready") {
    await client.quit().catch(() => client.disconnect());
  } else if (client.status === "reconnecting") {
    // Between two connection attempts no socket is open: disconnect() cancels the next
    // attempt and that is all. ioredis emits no "end" then (redis/ioredis#1247), so waiting
    // for it would wait forever (a stop right after a Redis outage).
    client.disconnect();
    return;
  } else {
    client.disconnect();
  }
  await ended;
}

/**
 * ioredis 6 reads the slot map every slotsRefreshInterval: when a round ends it arms the next
 * one, whatever the client's state, and a close clears only the timer armed then. A cluster
 * client closed while a round was under way thus went on arming a 5 s timer for ever (a stopped
 * service whose process did not exit). After the close: a round that ended during it armed the
 * next one, cleared here; a round still under way will, so a callback queued behind it (it runs
 * right after ioredis's own) clears that. With no round under way, nothing is started.
 */
function stopSlotsRefresh(cluster: Cluster): void {
  const internals = cluster as unknown as { isRefreshing: boolean; clearNodesRefreshInterval(): void };
  internals.clearNodesRefreshInterval();
  if (internals.isRefreshing) cluster.refreshSlotsCache(() => internals.clearNodesRefreshInterval());
}

/**
 * How long a script waits out the move of its slot to another master (a cluster being
 * rebalanced) beyond ioredis's own retries: pauses of 100 ms doubling to 500 ms, 12 tries, about
 * 5 s of pauses and 12 of ioredis's rounds (about 0.4 s each) in all. A slot of a few hundred
 * rooms moves in well under a second.
 */
export const MIGRATION_BACKOFF: Backoff = { firstMs: 100, maxMs: 500, tries: 12 };

/**
 * A script ioredis gave up on while slots move, after answers that mean "not run here": TRYAGAIN
 * (its keys are on both sides of a migration), or maxRedirections ending in MOVED or ASK (the
 * masters do not yet agree on the slot's owner, or the client read the slot map from a node that
 * had not heard of the move). Trying again is what ioredis itself does with these answers, only
 * for longer.
 */
const isMidMigration = (err: unknown) =>
  err instanceof Error && (err.message.includes("TRYAGAIN") || /^Too many Cluster redirections\. Last error: \w*Error: (MOVED|ASK) /.test(err.message));

/**
 * A Lua script run by EVALSHA, loaded with EVAL when the server does not know it yet. All
 * keys a script touches must share one hash tag (see keys.ts). While slots move, a script
 * ioredis gave up on after redirections is tried again (MIGRATION_BACKOFF).
 */
export class LuaScript {
  private readonly sha: string;

  constructor(readonly source: string) {
    this.sha = createHash("sha1").update(source).digest("hex");
  }

  run(redis: RedisClient, keys: readonly string[], args: ReadonlyArray<string | number | Buffer>): Promise<unknown> {
    return retryWithBackoff(() => this.runOnce(redis, keys, args), { ...MIGRATION_BACKOFF, retryable: isMidMigration });
  }

  private async runOnce(redis: RedisClient, keys: readonly string[], args: ReadonlyArray<string | number | Buffer>): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith("NOSCRIPT")) throw err;
      return redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}
