import { runService } from "../common/runtime.js";
import { playbackSettings } from "./config.js";
import { createPlaybackServer } from "./server.js";

runService("playback", playbackSettings, (rt) => createPlaybackServer({ ...rt, options: rt.config }));
