import { runService } from "../common/runtime.js";
import { gatewaySettings } from "./config.js";
import { createGatewayServer } from "./server.js";

runService("gateway", gatewaySettings, (rt) => createGatewayServer({ ...rt, options: rt.config }));
