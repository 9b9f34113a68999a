import { runService } from "../common/runtime.js";
import { clockSettings } from "./config.js";
import { createClockServer } from "./server.js";

runService("clock", clockSettings, (rt) => createClockServer({ ...rt, options: rt.config }));
