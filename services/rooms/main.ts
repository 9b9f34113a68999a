import { runService } from "../common/runtime.js";
import { roomsSettings } from "./config.js";
import { createRoomsServer } from "./server.js";

runService("rooms", roomsSettings, (rt) => createRoomsServer({ ...rt, options: rt.config }));
