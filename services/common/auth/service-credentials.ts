import type { Interceptor } from "@connectrpc/connect";
import type { ClockSource } from "../clock-source.js";
import type { TokenService } from "./tokens.js";

/**
 * Adds this service's own token to outgoing calls that carry no Authorization header yet
 * (calls made on a user's behalf forward the user's header instead). The token is re-issued
 * when a quarter of its life is left.
 */
export function serviceCredentialsInterceptor(tokens: TokenService, service: string, clock: ClockSource): Interceptor {
  let cached: { token: string; refreshAtMs: number } | undefined;
  const currentToken = async () => {
    const now = clock.now();
    if (cached === undefined || now >= cached.refreshAtMs) {
      const { token, expiresAtMs } = await tokens.signService(service);
      cached = { token, refreshAtMs: now + (expiresAtMs - now) * 0.75 };
    }
    return cached.token;
  };
  return (next) => async (req) => {
    if (!req.header.has("authorization")) {
      req.header.set("authorization", `Bearer ${await currentToken()}`);
    }
    return next(req);
  };
}
