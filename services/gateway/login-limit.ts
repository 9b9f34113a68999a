import type { ServiceImpl } from "@connectrpc/connect";
import type { AuthService } from "../../gen/groovebox/auth/v1/auth_pb.js";
import { loginKeys } from "../common/keys.js";
import { peerAddressKey } from "../common/peer-address.js";
import type { RateLimit } from "../common/rate-limit.js";
import { clientAddress } from "./client-address.js";

/**
 * Login with two rate limits kept in Redis, so they hold across gateways: per client address
 * (see client-address.ts for X-Forwarded-For), and for everyone together, which bounds the
 * work a flood of addresses can cause. The address is checked first, so one flooding address
 * does not use up everyone's budget.
 */
export function limitLogins(
  auth: Partial<ServiceImpl<typeof AuthService>>,
  limits: { perAddress: RateLimit; all: RateLimit; trustedProxies: ReadonlySet<string> },
): Partial<ServiceImpl<typeof AuthService>> {
  const login = auth.login!;
  return {
    ...auth,
    async login(req, ctx) {
      const address = clientAddress(ctx.values.get(peerAddressKey), ctx.requestHeader.get("x-forwarded-for"), limits.trustedProxies);
      await limits.perAddress(loginKeys.byAddress(address));
      await limits.all(loginKeys.all);
      return login(req, ctx);
    },
  };
}
