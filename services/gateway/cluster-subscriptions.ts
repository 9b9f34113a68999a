import calculateSlot from "cluster-key-slot";
import type { Cluster, Redis } from "ioredis";
import type { Logger } from "../common/logger.js";

interface Watched {
  slot: number;
  /** The node (host:port) that served the channel's slot when its subscription was last confirmed. */
  node: string | undefined;
  /** The connection to that node ended since: the subscription may have been down. */
  suspect: boolean;
  confirming: boolean;
}

/**
 * Finds the room channels of a Redis Cluster subscriber whose events may have been lost, and
 * says when each is subscribed again.
 *
 * ioredis keeps one sharded subscriber per master. When a master fails (its replica takes over)
 * or a slot moves to another master, it makes new subscribers and subscribes their channels
 * again, then emits "subscribersReady"; events published in between are lost, and the room's
 * next event, if any, would show the gap only then. ioredis emits "subscribersReady" after
 * every such round, also when the new subscriber could not connect (the master is down and its
 * replica has not taken over yet), and does not say which channels were affected. So this
 * tracks, per channel, the node of its slot: a channel whose node's connection ended, or whose
 * slot is now served elsewhere, is subscribed once more here (SSUBSCRIBE again is harmless) and,
 * once that is confirmed, reported through `resubscribed`: from then on its events arrive, and
 * a state read now misses nothing. A confirmation that fails waits for the next round.
 */
export function watchClusterSubscriptions(cluster: Cluster, deps: { resubscribed(channel: string): void; logger: Logger }) {
  const watched = new Map<string, Watched>();
  const nodeOf = (slot: number): string | undefined => cluster.slots[slot]?.[0];

  async function confirm(channel: string, w: Watched): Promise<void> {
    if (w.confirming) return;
    w.confirming = true;
    const node = nodeOf(w.slot);
    try {
      await cluster.ssubscribe(channel);
      if (watched.get(channel) !== w) return; // unsubscribed meanwhile
      Object.assign(w, { node, suspect: false });
      deps.resubscribed(channel);
    } catch (err) {
      w.suspect = true;
      deps.logger.debug({ err, channel }, "resubscribe not confirmed yet");
    } finally {
      w.confirming = false;
    }
  }

  // Any connection to a node that ends (the subscriber's or a command connection's) means the
  // node is gone or restarting: its channels' subscriptions may have been down.
  cluster.on("-node", (redis: Redis) => {
    const node = `${redis.options.host}:${redis.options.port}`;
    for (const w of watched.values()) if (w.node === node) w.suspect = true;
  });
  cluster.on("subscribersReady", () => {
    for (const [channel, w] of watched) if (w.suspect || nodeOf(w.slot) !== w.node) void confirm(channel, w);
  });

  return {
    /** The channel is subscribed now (its SSUBSCRIBE was answered). */
    track(channel: string): void {
      const slot = calculateSlot(channel);
      watched.set(channel, { slot, node: nodeOf(slot), suspect: false, confirming: false });
    },
    untrack(channel: string): void {
      watched.delete(channel);
    },
  };
}
