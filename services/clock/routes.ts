import type { ConnectRouter } from "@connectrpc/connect";
import { ClockSampleService } from "../../gen/groovebox/clock/v1/clock_pb.js";
import type { Access } from "../common/auth/gate.js";
import type { ClockSource } from "../common/clock-source.js";
import { createClockSampleService } from "./clock-service.js";
import type { SampleStore } from "./sample-store.js";

export interface ClockDeps {
  store: SampleStore;
  clock: ClockSource;
}

/** The sample service is for other groovebox services only (Ping is on every port, see common/server.ts). */
export const clockRoutes = (deps: ClockDeps) => (router: ConnectRouter) =>
  router.service(ClockSampleService, createClockSampleService(deps));

export const clockAccess: Record<string, Access> = { [ClockSampleService.typeName]: "service" };

export const clockServiceNames = [ClockSampleService.typeName];
