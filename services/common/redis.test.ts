import { once } from "node:events";
import { testRedis } from "../../test/support/stack.js";
import { freePort, startLocalRedis } from "../../scripts/local-redis.js";
import { closeRedis, whenRedisReady } from "./redis.js";

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
});

describe("whenRedisReady", () => {
  const never = new Promise<void>(() => {});

  it("waits for a Redis that is not there yet, and resolves once the client can run commands", async () => {
    const port = await freePort();
    const redis = testRedis("ready-test", { url: `redis://127.0.0.1:${port}`, clusterNodes: [] });
    let ready = false;
    const waiting = whenRedisReady(redis, never).then(() => (ready = true));
    // It tried, and nothing answered (events.once would reject on the "error" that comes first).
    await new Promise((resolve) => redis.once("reconnecting", resolve));
    expect(ready).toBe(false);
    const server = await startLocalRedis({ port });
    try {
      await waiting;
      expect(redis.status).toBe("ready");
      expect(await redis.ping()).toBe("PONG");
    } finally {
      await closeRedis(redis);
      await server.stop();
    }
  });

  it("resolves at once for a ready client, and when cancelled for one that never gets ready", async () => {
    const ok = testRedis("ready-test");
    const down = testRedis("ready-test", { url: `redis://127.0.0.1:${await freePort()}`, clusterNodes: [] });
    try {
      if (ok.status !== "ready") await once(ok, "ready");
      await whenRedisReady(ok, never);
      const listeners = down.listenerCount("ready");
      let cancel!: () => void;
      const waiting = whenRedisReady(down, new Promise<void>((resolve) => (cancel = resolve)));
      cancel();
      await waiting;
      expect(down.status).not.toBe("ready");
      expect(down.listenerCount("ready")).toBe(listeners);
    } finally {
      await closeRedis(ok);
      await closeRedis(down);
    }
  });
});
