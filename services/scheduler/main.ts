import { runService } from "../common/runtime.js";
import { schedulerSettings } from "./config.js";
import { createSchedulerServer } from "./server.js";

runService("scheduler", schedulerSettings, (rt) => createSchedulerServer({ ...rt, options: rt.config }));
