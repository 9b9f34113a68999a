import { randomUUID } from "node:crypto";
import { Code, createContextKey, type Interceptor } from "@connectrpc/connect";
import { principalKey } from "./auth/gate.js";
import { DomainError, toConnectError } from "./errors.js";
import type { Logger } from "./logger.js";

/** The id of the current request: the caller's x-request-id, or a new one. */
export const requestIdKey = createContextKey<string>("", { description: "request id" });

/** A request id header longer than this, or with odd characters, is replaced. */
const REQUEST_ID_PATTERN = /^[\w.:-]{1,64}$/;

/**
 * Gives every call a request id (answered in the x-request-id response header), logs calls
 * at debug, and maps whatever a handler throws to the right ConnectError (see
 * toConnectError). A request refused by a rule of this service (not the DJ, not a member,
 * unknown room, stale version, bad input) is logged at info with the caller and the room; a
 * refusal passed on from another service is logged there, so only at debug here. Streaming
 * handlers map their own errors as they run: wrapping every stream's messages in one more
 * iterator here would tax every message.
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
      if (err instanceof DomainError) {
        const principal = req.contextValues.get(principalKey);
        const roomId = req.stream ? undefined : (req.message as { roomId?: unknown }).roomId;
        log.info(
          {
            code: Code[mapped.code],
            reason: mapped.rawMessage,
            userId: principal?.kind === "user" ? principal.userId : undefined,
            roomId: typeof roomId === "string" && roomId !== "" ? roomId : undefined,
          },
          "request refused",
        );
      } else {
        log.debug({ code: mapped.code, msg: mapped.rawMessage }, "call failed");
      }
      throw mapped;
    }
  };
}
