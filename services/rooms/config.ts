import { portSetting } from "../common/config.js";

/** The rooms service's own settings (besides the common ones). */
export const roomsSettings = {
  port: portSetting("ROOMS_PORT", 8083),
};
