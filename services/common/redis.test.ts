import { once } from "node:events";
import { testRedis } from "../../test/support/stack.js";
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
});
