import type { Interceptor } from "@connectrpc/connect";
import type { ClockSource } from "../clock-source.js";
import type { TokenService } from "./tokens.js";

/**
 * Adds this service's own token to outgoing calls that carry no Authorization header yet
 * (calls made on a user's behalf forward the user's header instead). The token is re-issued
 * when a quarter of its life is left; calls that start while it is being signed share that
 * signature (a burst of calls signs once, not once per call).
 */
export function serviceCredentialsInterceptor(tokens: TokenService, service: string, clock: ClockSource): Interceptor {
  let cached: { token: Promise<string>; refreshAtMs: number } | undefined;
  const currentToken = () => {
    const now = clock.now();
    if (cached === undefined || now >= cached.refreshAtMs) {
      const next: { token: Promise<string>; refreshAtMs: number } = { token: Promise.resolve(""), refreshAtMs: Infinity };
      next.token = tokens.signService(service).then(
        ({ token, expiresAtMs }) => {
          next.refreshAtMs = now + (expiresAtMs - now) * 0.75;
          return token;
        },
        (err: unknown) => {
          if (cached === next) cached = undefined; // the next call signs again
          throw err;
        },
      );
      cached = next;
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
