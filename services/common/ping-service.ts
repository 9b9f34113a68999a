import type { ServiceImpl } from "@connectrpc/connect";
import type { ClockService } from "../../gen/groovebox/clock/v1/clock_pb.js";
import type { ClockSource } from "./clock-source.js";
import { requireEpochMs } from "./validate.js";

/**
 * ClockService/Ping: stamps t1 first and t2 last, by the process's clock. Every service serves
 * it on its own port, so the agreement of their clocks can be measured (`npm run clock:check`);
 * on the gateway's public port it is the edge clock of simple clients and buf curl.
 */
export function createPingService(clock: ClockSource): ServiceImpl<typeof ClockService> {
  return {
    ping(req) {
      const serverReceiveTimeMs = clock.now();
      requireEpochMs(req.clientSendTimeMs, "client_send_time_ms");
      return { clientSendTimeMs: req.clientSendTimeMs, serverReceiveTimeMs, serverSendTimeMs: clock.now() };
    },
  };
}
