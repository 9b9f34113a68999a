import { once } from "node:events";
import { Cluster } from "ioredis";
import { eventually } from "../../test/support/eventually.js";
import { testRedis, testRedisTarget } from "../../test/support/stack.js";
import { freePort, startLocalRedis } from "../../scripts/local-redis.js";
import { closeRedis, startWhenRedisReady } from "./redis.js";

describe("closeRedis", () => {
  it("resolves once the connection is closed for good, and closing again does nothing", async () => {
    const redis = testRedis("close-test");
    // A cluster client takes no commands before it knows the slots.
    if (redis.status !== "ready") await once(redis, "ready");
    await redis.ping();
    await closeRedis(redis);
    expect(redis.status).toBe("end");
    // A second close (two stops of one service) must not start ioredis's close timer, which
    // would hold the process open for seconds.
    const setTimeoutSpy = jest.spyOn(globalThis, "setTimeout");
    await closeRedis(redis);
    expect(setTimeoutSpy).not.toHaveBeenCalled();
    setTimeoutSpy.mockRestore();
  });

  it("closes a connection that never connected", async () => {
    const redis = testRedis("close-test", { url: "redis://127.0.0.1:1", clusterNodes: [] });
    await closeRedis(redis);
    expect(redis.status).toBe("end");
  });

  it("closes a connection that waits to reconnect after Redis went away", async () => {
    const server = await startLocalRedis({ port: await freePort() });
    const redis = testRedis("close-test", { url: server.url, clusterNodes: [] });
    await once(redis, "ready");
    const reconnecting = once(redis, "reconnecting");
    await server.stop();
    await reconnecting;
    // ioredis emits no "end" for a client closed between two attempts: this must not wait for one.
    await closeRedis(redis);
  });

  it("closes a cluster client that waits to reconnect", async () => {
    const redis = testRedis("close-test", { url: "", clusterNodes: [{ host: "127.0.0.1", port: await freePort() }] });
    // (events.once would reject on the "error" that comes first.)
    await new Promise((resolve) => redis.once("reconnecting", resolve));
    await closeRedis(redis);
  });

  // A cluster needed: the test run's (cluster mode).
  const { clusterNodes } = testRedisTarget();
  (clusterNodes.length > 0 ? it.each : it.skip.each)([
    ["ends after the close", false],
    ["ends while the client closes", true],
  ])("stops a cluster client's periodic slot refresh when it was closed during a round that %s", async (_, endsDuringClose) => {
    const cluster = new Cluster([...clusterNodes], { slotsRefreshInterval: 20 });
    // ioredis's own parts, to hold a periodic round open across the close.
    const internals = cluster as unknown as {
      slotsTimer: NodeJS.Timeout | null;
      getInfoFromNode(node: unknown, callback: (err?: Error) => void): void;
    };
    const ask = internals.getInfoFromNode.bind(cluster);
    let held: (() => void) | undefined;
    await once(cluster, "ready");
    internals.getInfoFromNode = (node, callback) => ask(node, (err) => (held = () => callback(err)));
    // A round is under way, its answer held back: the client is closed meanwhile.
    await eventually(async () => (held !== undefined ? true : undefined), undefined, "a round of the slot refresh");
    // closeRedis has sent QUIT when it returns its promise: the client is closing, not closed.
    const closing = closeRedis(cluster);
    if (endsDuringClose) held!();
    await closing;
    if (!endsDuringClose) held!();
    expect({ nextRoundArmed: internals.slotsTimer !== null }).toEqual({ nextRoundArmed: false });
  });
});

describe("startWhenRedisReady", () => {
  it("waits for a Redis that is not there yet, and starts once the client can run commands", async () => {
    const port = await freePort();
    const redis = testRedis("ready-test", { url: `redis://127.0.0.1:${port}`, clusterNodes: [] });
    let ranWhen: string | undefined;
    const started = new Promise<void>((resolve) =>
      startWhenRedisReady(redis, () => {
        ranWhen = redis.status;
        resolve();
      }),
    );
    // It tried, and nothing answered (events.once would reject on the "error" that comes first).
    await new Promise((resolve) => redis.once("reconnecting", resolve));
    expect(ranWhen).toBeUndefined();
    const server = await startLocalRedis({ port });
    try {
      await started;
      expect(ranWhen).toBe("ready");
    } finally {
      await closeRedis(redis);
      await server.stop();
    }
  });

  it("starts at once with a ready client, and never once cancelled", async () => {
    const ok = testRedis("ready-test");
    const down = testRedis("ready-test", { url: `redis://127.0.0.1:${await freePort()}`, clusterNodes: [] });
    try {
      if (ok.status !== "ready") await once(ok, "ready");
      let started = false;
      startWhenRedisReady(ok, () => (started = true));
      expect(started).toBe(true);
      const listeners = down.listenerCount("ready");
      startWhenRedisReady(down, () => {
        throw new Error("started after the cancel");
      }).cancel();
      expect(down.listenerCount("ready")).toBe(listeners);
    } finally {
      await closeRedis(ok);
      await closeRedis(down);
    }
  });
});
