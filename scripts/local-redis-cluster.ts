/**
 * A local Redis Cluster for tests and benchmarks: masters and replicas started as private
 * redis-servers on free ports and joined with `redis-cli --cluster create`, the way operators
 * build one. No Redis client library here either: redis-cli answers the few questions asked.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort, startLocalRedis, type LocalRedis } from "./local-redis.ts"; // .ts (rewritten to .js on build): Jest loads global setup without its module mapper

const run = promisify(execFile);

export interface ClusterNodeAddress {
  host: string;
  port: number;
}

export interface LocalRedisCluster {
  /** Every node (masters first as created; roles change on failover). */
  nodes: ClusterNodeAddress[];
  /** `host:port,...`: the value of REDIS_CLUSTER_NODES. */
  nodeList: string;
  /** Kills one node with SIGKILL (no shutdown, no final write), as a crash would. */
  kill(port: number): Promise<void>;
  /**
   * Starts a node that was killed or stopped again, with its old identity (and data, with
   * persist), and waits until the cluster is whole again (a master that was failed over comes
   * back as its replica's replica, in sync).
   */
  revive(port: number): Promise<void>;
  /** Stops every node (SIGTERM) and waits for them; with persist, `restart()` brings them back. */
  stop(): Promise<void>;
  /** Starts every node again on its old port and waits until the cluster is ok. */
  restart(): Promise<void>;
  /** Stops every node and removes the cluster's files. */
  destroy(): Promise<void>;
  /** Runs redis-cli against one node and returns its output (e.g. `CLUSTER NODES`). */
  cli(port: number, ...args: string[]): Promise<string>;
  /** The masters that serve slots now (and are not suspected to have failed), as a live node sees it. */
  masters(): Promise<ClusterNodeAddress[]>;
  /** The masters that serve slots, with the number of keys each holds. */
  keysPerMaster(): Promise<Array<{ port: number; keys: number }>>;
  /** The master that serves `key`'s slot now, and its replicas, as a live node sees it. */
  shardOf(key: string): Promise<{ master: ClusterNodeLine; replicas: ClusterNodeLine[] }>;
  /**
   * Moves the slot of `key` to the master on port `toPort`, as `redis-cli --cluster reshard`
   * does: the slot is IMPORTING on the target and MIGRATING on its master, its keys go over with
   * MIGRATE a few at a time, then every master is told the new owner. `midway` runs once the
   * slot is migrating and its first keys have moved (clients are redirected with ASK then).
   */
  moveSlot(key: string, toPort: number, opts?: { midway?(from: ClusterNodeLine): Promise<void> }): Promise<void>;
}

export interface LocalRedisClusterOptions {
  masters?: number;
  replicasPerMaster?: number;
  /** cluster-node-timeout: how long a master may be unreachable before its replica takes over. */
  nodeTimeoutMs?: number;
  /** AOF on every node (fsync always), so a node that is stopped and started keeps its data. */
  persist?: boolean;
}

/** How long the cluster may take to agree after create or restart (it takes about a second). */
const READY_TIMEOUT_MS = 20_000;

/**
 * Starts `masters` x (1 + `replicasPerMaster`) redis-servers with cluster mode on and joins them
 * into one cluster (slots spread evenly over the masters); resolves when every node reports
 * cluster_state:ok and every replica is in sync with its master.
 */
export async function startLocalRedisCluster(opts: LocalRedisClusterOptions = {}): Promise<LocalRedisCluster> {
  const masterCount = opts.masters ?? 3;
  const replicas = opts.replicasPerMaster ?? 1;
  const root = mkdtempSync(join(tmpdir(), "groovebox-redis-cluster-"));
  const servers = new Map<number, LocalRedis>();
  const busPorts = new Map<number, number>();

  async function startNode(port: number): Promise<LocalRedis> {
    const dir = join(root, String(port));
    mkdirSync(dir, { recursive: true });
    const args = [
      "--cluster-enabled", "yes",
      // The bus port is chosen too: port + 10000 (the default) may be taken or past 65535.
      "--cluster-port", String(busPorts.get(port)),
      "--cluster-config-file", join(dir, "nodes.conf"),
      "--cluster-node-timeout", String(opts.nodeTimeoutMs ?? 2000),
      // A replica should take over whatever its replication lag: tests kill masters mid-traffic.
      "--cluster-replica-validity-factor", "0",
      // Masters wait 5 s by default for more replicas before a full sync; nobody else is coming.
      "--repl-diskless-sync-delay", "0",
      "--dir", dir,
    ];
    const server = await startLocalRedis({ port, dir: opts.persist ? dir : undefined, fsyncAlways: true, args });
    servers.set(port, server);
    return server;
  }

  /** Starts the nodes in parallel; if one fails, the error comes after all have settled (none is left behind). */
  async function startNodes(ports: number[]): Promise<void> {
    const results = await Promise.allSettled(ports.map(startNode));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  }

  const cli = async (port: number, ...args: string[]) => (await run("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...args])).stdout;

  /** Runs redis-cli on the first node that answers. */
  async function ask(...args: string[]): Promise<string> {
    for (const port of servers.keys()) {
      const answer = await cli(port, ...args).catch(() => undefined);
      if (answer !== undefined) return answer;
    }
    throw new Error("no node of the cluster answers");
  }

  async function masters(): Promise<ClusterNodeAddress[]> {
    return parseClusterNodes(await ask("CLUSTER", "NODES"))
      .filter((n) => n.flags.includes("master") && !n.flags.some((f) => f.startsWith("fail")) && n.slots.length > 0)
      .map((n) => ({ host: n.host, port: n.port }));
  }

  async function shardOf(key: string): Promise<{ master: ClusterNodeLine; replicas: ClusterNodeLine[] }> {
    const slot = Number((await ask("CLUSTER", "KEYSLOT", key)).trim());
    const nodes = parseClusterNodes(await ask("CLUSTER", "NODES"));
    const master = nodes.find((n) => n.flags.includes("master") && n.slots.some((range) => inRange(range, slot)));
    if (master === undefined) throw new Error(`no master serves slot ${slot}`);
    return { master, replicas: nodes.filter((n) => n.masterId === master.id) };
  }

  async function moveSlot(key: string, toPort: number, opts: { midway?(from: ClusterNodeLine): Promise<void> } = {}): Promise<void> {
    const slot = (await ask("CLUSTER", "KEYSLOT", key)).trim();
    const { master: from } = await shardOf(key);
    const nodes = parseClusterNodes(await ask("CLUSTER", "NODES"));
    const to = nodes.find((n) => n.port === toPort && n.flags.includes("master"));
    if (to === undefined) throw new Error(`no master on port ${toPort}`);
    await cli(to.port, "CLUSTER", "SETSLOT", slot, "IMPORTING", from.id);
    await cli(from.port, "CLUSTER", "SETSLOT", slot, "MIGRATING", to.id);
    for (let batch = 0; ; batch++) {
      const keys = (await cli(from.port, "CLUSTER", "GETKEYSINSLOT", slot, "5")).split("\n").filter((k) => k !== "");
      if (keys.length > 0) await cli(from.port, "MIGRATE", to.host, String(to.port), "", "0", "5000", "KEYS", ...keys);
      if (batch === 0) await opts.midway?.(from);
      if (keys.length === 0) break;
    }
    // The new owner first, then the old one, then the others (as redis-cli does).
    const masters = nodes.filter((n) => n.flags.includes("master") && !n.flags.some((f) => f.startsWith("fail")));
    for (const node of [to, from, ...masters.filter((n) => n.id !== to.id && n.id !== from.id)]) {
      await cli(node.port, "CLUSTER", "SETSLOT", slot, "NODE", to.id);
    }
  }

  try {
    // Two ports per node (clients, cluster bus), all different: the system may offer a port again.
    const taken = new Set<number>();
    const distinctFreePort = async () => {
      let port: number;
      do port = await freePort();
      while (taken.has(port));
      taken.add(port);
      return port;
    };
    const ports: number[] = [];
    for (let i = 0; i < masterCount * (1 + replicas); i++) {
      const port = await distinctFreePort();
      busPorts.set(port, await distinctFreePort());
      ports.push(port);
    }
    await startNodes(ports);
    await run("redis-cli", [
      "--cluster", "create",
      ...ports.map((p) => `127.0.0.1:${p}`),
      "--cluster-replicas", String(replicas),
      "--cluster-yes",
    ]);
    await waitUntilReady(ports, masterCount * replicas, cli);
    const nodes = ports.map((port) => ({ host: "127.0.0.1", port }));
    const stopAll = () => Promise.all([...servers.values()].map((s) => s.stop())).then(() => undefined);
    return {
      nodes,
      nodeList: nodes.map((n) => `${n.host}:${n.port}`).join(","),
      cli,
      async kill(port) {
        const server = servers.get(port);
        if (server === undefined) throw new Error(`no cluster node on port ${port}`);
        await server.kill();
      },
      async revive(port) {
        await startNode(port);
        await waitUntilReady(ports, masterCount * replicas, cli);
      },
      masters,
      shardOf,
      moveSlot,
      async keysPerMaster() {
        return Promise.all((await masters()).map(async ({ port }) => ({ port, keys: Number((await cli(port, "DBSIZE")).trim()) })));
      },
      stop: stopAll,
      async restart() {
        await startNodes(ports);
        await waitUntilReady(ports, masterCount * replicas, cli);
      },
      async destroy() {
        await stopAll();
        rmSync(root, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await Promise.all([...servers.values()].map((s) => s.stop()));
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Waits until every node says cluster_state:ok, knows all the others and sees the expected
 * number of replicas, and every replica is in sync with its master.
 */
async function waitUntilReady(
  ports: number[],
  replicaCount: number,
  cli: (port: number, ...args: string[]) => Promise<string>,
): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const roles = await Promise.all(
      ports.map(async (port) => {
        const [info, nodes, replication] = await Promise.all([
          cli(port, "CLUSTER", "INFO"),
          cli(port, "CLUSTER", "NODES"),
          cli(port, "INFO", "replication"),
        ]).catch(() => ["", "", ""]);
        const agrees =
          info.includes("cluster_state:ok") &&
          info.includes(`cluster_known_nodes:${ports.length}`) &&
          healthyReplicas(nodes) === replicaCount;
        if (!agrees) return "waiting";
        if (replication.includes("role:master")) return "master";
        return replication.includes("master_link_status:up") ? "replica" : "waiting";
      }),
    );
    if (!roles.includes("waiting") && roles.filter((r) => r === "replica").length === replicaCount) return;
    if (Date.now() > deadline) throw new Error(`the Redis Cluster on ports ${ports.join(",")} did not become ready`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One line of CLUSTER NODES. */
export interface ClusterNodeLine {
  id: string;
  host: string;
  port: number;
  flags: string[];
  /** The master's id, for a replica. */
  masterId: string;
  /** Slot ranges served ("0-5460", "7"), for a master. */
  slots: string[];
}

/** Parses a CLUSTER NODES answer: `<id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <link> <slot>...` */
export function parseClusterNodes(answer: string): ClusterNodeLine[] {
  return answer
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => {
      const [id, address, flags, masterId, , , , , ...slots] = line.trim().split(" ");
      const [hostPort] = address!.split("@");
      const colon = hostPort!.lastIndexOf(":");
      return {
        id: id!,
        host: hostPort!.slice(0, colon),
        port: Number(hostPort!.slice(colon + 1)),
        flags: flags!.split(","),
        masterId: masterId!,
        slots: slots.filter((s) => !s.startsWith("[")),
      };
    });
}

/** True when `slot` is in a CLUSTER NODES slot range ("0-5460" or "7"). */
function inRange(range: string, slot: number): boolean {
  const [from, to = from] = range.split("-").map(Number) as [number, number?];
  return slot >= from && slot <= to!;
}

/** How many healthy replicas a CLUSTER NODES answer lists. */
function healthyReplicas(clusterNodes: string): number {
  return parseClusterNodes(clusterNodes).filter((n) => n.flags.includes("slave") && !n.flags.some((f) => f.startsWith("fail"))).length;
}
