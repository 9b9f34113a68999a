import type { ServiceImpl } from "@connectrpc/connect";
import { AuthService } from "../../gen/groovebox/auth/v1/auth_pb.js";
import type { TokenService } from "../common/auth/tokens.js";
import { newId } from "../common/ids.js";
import { requireText } from "../common/validate.js";

/** Display names: trimmed, 1 to 40 printable characters. */
export const DISPLAY_NAME_MAX = 40;

/** Guest login: a display name in, a new user id and its signed token out. */
export function createAuthService(deps: { tokens: TokenService }): ServiceImpl<typeof AuthService> {
  return {
    async login(req) {
      const displayName = requireText(req.displayName, "display_name", 1, DISPLAY_NAME_MAX);
      const userId = newId();
      const { token, expiresAtMs } = await deps.tokens.signUser({ userId, displayName });
      return { token, userId, displayName, expiresAtTimeMs: expiresAtMs };
    },
  };
}
