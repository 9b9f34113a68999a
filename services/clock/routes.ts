import type { ConnectRouter } from "@connectrpc/connect";
import { ClockSampleService, ClockService } from "../../gen/groovebox/clock/v1/clock_pb.js";
import { createAuthGate } from "../common/auth/gate.js";
import type { TokenService } from "../common/auth/tokens.js";
import type { ClockSource } from "../common/clock-source.js";
import { createClockSampleService, createClockService } from "./clock-service.js";
import type { SampleStore } from "./sample-store.js";

export interface ClockDeps {
  store: SampleStore;
  clock: ClockSource;
  tokens: TokenService;
}

/** Ping is public; the sample service is for other groovebox services only. */
export const clockRoutes = (deps: ClockDeps) => (router: ConnectRouter) =>
  router
    .service(ClockService, createClockService(deps.clock))
    .service(ClockSampleService, createClockSampleService(deps), {
      requestGate: createAuthGate(deps.tokens, "service"),
    });

export const clockServiceNames = [ClockService.typeName, ClockSampleService.typeName];
