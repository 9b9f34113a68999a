import { once } from "node:events";
import { testRedis } from "../../test/support/stack.js";
import { freePort, startLocalRedis } from "../../scripts/local-redis.js";
import { closeRedis } from "./redis.js";

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
