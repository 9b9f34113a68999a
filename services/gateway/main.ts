import { fileURLToPath } from "node:url";
import { runService } from "../common/runtime.js";
import { gatewaySettings } from "./config.js";
import { createGatewayServer } from "./server.js";

/** The browser page npm run build makes: dist/web, beside this file's dist/services/gateway. */
const builtWebDir = fileURLToPath(new URL("../../web/", import.meta.url));

runService("gateway", gatewaySettings, (rt) => createGatewayServer({ ...rt, options: { ...rt.config, webDir: rt.config.webDir ?? builtWebDir } }));
