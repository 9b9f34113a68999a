import { closeRedis } from "../common/redis.js";
import { createRuntime, runMain } from "../common/runtime.js";
import { clockSettings } from "./config.js";
import { createClockServer } from "./server.js";

runMain("clock", async () => {
  const rt = createRuntime("clock", clockSettings);
  const server = createClockServer({ ...rt, options: { ...rt.config } });
  const port = await server.start();
  rt.logger.info({ port }, "clock service listening");
  return {
    logger: rt.logger,
    running: {
      async stop() {
        await server.stop();
        await closeRedis(rt.redis);
      },
    },
  };
});
