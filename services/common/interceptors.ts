import { randomUUID } from "node:crypto";
import { createContextKey, type Interceptor } from "@connectrpc/connect";
import { toConnectError } from "./errors.js";
import type { Logger } from "./logger.js";

/** The id of the current request: the caller's x-request-id, or a new one. */
export const requestIdKey = createContextKey<string>("", { description: "request id" });

/** A request id header longer than this, or with odd characters, is replaced. */
const REQUEST_ID_PATTERN = /^[\w.:-]{1,64}$/;

/**
 * Gives every call a request id (answered in the x-request-id response header), logs calls
 * at debug and failures at warn, and maps whatever a handler throws to the right
 * ConnectError (see toConnectError). Streaming handlers map their own errors as they run:
 * wrapping every stream's messages in one more iterator here would tax every message.
 */
export function createServerInterceptor(logger: Logger): Interceptor {
  return (next) => async (req) => {
    const given = req.header.get("x-request-id");
    const requestId = given && REQUEST_ID_PATTERN.test(given) ? given : randomUUID();
    req.contextValues.set(requestIdKey, requestId);
    const log = logger.child({ requestId, rpc: req.method.name });
    log.debug("call");
    try {
      const res = await next(req);
      res.header.set("x-request-id", requestId);
      return res;
    } catch (err) {
      const mapped = toConnectError(err, log);
      mapped.metadata.set("x-request-id", requestId);
      log.debug({ code: mapped.code, msg: mapped.rawMessage }, "call failed");
      throw mapped;
    }
  };
}
