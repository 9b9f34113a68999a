/**
 * What the benchmarks read from a stack's Redis node by node, the same way on a single Redis
 * and on a cluster (where each master is asked in turn): memory, CPU and commands, and which
 * master serves a key.
 */
import { Cluster, type Redis } from "ioredis";
import { roomKeys } from "../services/common/keys.js";

/** The nodes that hold data: a cluster's masters (once the client knows them all), or the one Redis. */
async function masterNodes(redis: Redis | Cluster): Promise<Redis[]> {
  if (!(redis instanceof Cluster)) return [redis];
  if (redis.status !== "ready") await new Promise((resolve) => redis.once("ready", resolve));
  return redis.nodes("master");
}

/** One node's memory, CPU and commands run so far (INFO memory, cpu, commandstats). */
export interface NodeStats {
  port: number;
  usedMemoryBytes: number;
  /**
   * used_memory less what is not the data: replication buffers (a master's backlog grows to
   * 1 MiB once replicas follow it), client buffers, the scripts cache and cluster links. What the
   * keys take, with the keyspace's own tables.
   */
  dataBytes: number;
  /** used_cpu_user + used_cpu_sys: all of the server's threads. */
  cpuSeconds: number;
  /** Calls per command (commands inside scripts and MULTI count too). */
  commands: Map<string, number>;
}

/** Every master's stats. */
export async function nodeStats(redis: Redis | Cluster): Promise<NodeStats[]> {
  return Promise.all(
    (await masterNodes(redis)).map(async (node) => {
      const info = await node.info("memory", "cpu", "commandstats");
      const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, "m").exec(info)![1]);
      const commands = new Map<string, number>();
      for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) commands.set(m[1]!, Number(m[2]));
      const notData = ["mem_total_replication_buffers", "mem_clients_slaves", "mem_clients_normal", "mem_aof_buffer", "used_memory_scripts_eval", "mem_cluster_links"];
      return {
        port: node.options.port!,
        usedMemoryBytes: field("used_memory"),
        dataBytes: field("used_memory") - notData.map(field).reduce((a, b) => a + b, 0),
        cpuSeconds: field("used_cpu_user") + field("used_cpu_sys"),
        commands,
      };
    }),
  );
}

/** What one master did per second between two snapshots: CPU seconds, and calls per command. */
export interface NodeRate {
  cpu: number;
  calls: Map<string, number>;
}

/** Each master's rates (by port) between two snapshots of every master `seconds` apart. */
export function nodeRates(earlier: NodeStats[], later: NodeStats[], seconds: number): Map<number, NodeRate> {
  return new Map(
    later.map((after) => {
      const before = earlier.find((n) => n.port === after.port)!;
      const calls = new Map<string, number>();
      for (const [name, count] of after.commands) {
        const more = count - (before.commands.get(name) ?? 0);
        if (more > 0) calls.set(name, more / seconds);
      }
      return [after.port, { cpu: (after.cpuSeconds - before.cpuSeconds) / seconds, calls }];
    }),
  );
}

/** Calls per second of one command, or of all, on one master. */
export const callRate = (rate: NodeRate, command?: string) =>
  command === undefined ? [...rate.calls.values()].reduce((a, b) => a + b, 0) : (rate.calls.get(command) ?? 0);

/** Finds the port of the master serving a key's slot, by the cluster's slot map as it is now. */
export async function masterLookup(redis: Redis | Cluster): Promise<(key: string) => Promise<number>> {
  const ranges = (await redis.call("CLUSTER", "SLOTS")) as Array<[number, number, [string, number]]>;
  return async (key) => {
    const slot = (await redis.call("CLUSTER", "KEYSLOT", key)) as number;
    return ranges.find(([from, to]) => slot >= from && slot <= to)![2][1];
  };
}

/** How many of the rooms each master serves (by the slot of the room's hash tag), by port. */
export async function roomsPerMaster(redis: Redis | Cluster, roomIds: string[]): Promise<Record<string, number>> {
  const masterOf = await masterLookup(redis);
  const counts: Record<string, number> = {};
  for (const roomId of roomIds) {
    const port = await masterOf(roomKeys.seq(roomId));
    counts[port] = (counts[port] ?? 0) + 1;
  }
  return counts;
}
