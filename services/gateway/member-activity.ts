import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { PresenceService } from "../../gen/groovebox/room/v1/room_pb.js";
import { principalKey } from "../common/auth/gate.js";
import type { Logger } from "../common/logger.js";

/** How long a call waits for its presence update at most: presence must not slow calls down. */
const TOUCH_TIMEOUT_MS = 1000;

type UnaryHandler = (req: unknown, ctx: HandlerContext) => Promise<unknown>;

/**
 * Presence for members who use unary calls only (a shell with buf curl, a page between
 * loads): every public call that names a room (`room_id`) tells the rooms service, beside the
 * call itself, that the caller is still there (PresenceService.TouchMember). A member without
 * a stream then stays for the idle period after their last call. Failing to record it never
 * fails the call.
 */
export function createMemberActivity(presence: Client<typeof PresenceService>, logger: Logger) {
  async function touch(roomId: string, userId: string): Promise<void> {
    try {
      await presence.touchMember({ roomId, userId }, { timeoutMs: TOUCH_TIMEOUT_MS });
    } catch (err) {
      const code = ConnectError.from(err).code;
      const serverTrouble = code === Code.Unavailable || code === Code.DeadlineExceeded || code === Code.Internal;
      logger[serverTrouble ? "warn" : "debug"]({ err, roomId, userId }, "member activity not recorded");
    }
  }

  return {
    /** The same handlers, each also recording the caller's activity in the room it names. */
    recording<S extends DescService>(impl: Partial<ServiceImpl<S>>): Partial<ServiceImpl<S>> {
      const wrapped: Record<string, UnaryHandler> = {};
      for (const [name, handler] of Object.entries(impl as Record<string, UnaryHandler>)) {
        wrapped[name] = async (req, ctx) => {
          const roomId = (req as { roomId?: unknown }).roomId;
          const principal = ctx.values.get(principalKey);
          if (typeof roomId !== "string" || roomId === "" || principal?.kind !== "user") return handler(req, ctx);
          const [answer] = await Promise.all([handler(req, ctx), touch(roomId, principal.userId)]);
          return answer;
        };
      }
      return wrapped as Partial<ServiceImpl<S>>;
    },
  };
}
