import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { GatewayService, type ClientMessage } from "../../gen/groovebox/gateway/v1/gateway_pb.js";
import { requireUser } from "../common/auth/gate.js";
import { resetCallKey } from "../common/call-reset.js";
import { toConnectError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import { requireId } from "../common/validate.js";
import type { StreamCore, StreamKind } from "./stream-core.js";
import type { ServerMessageInit, StreamSession } from "./stream-session.js";

/** How long a failed stream may take to end before it is reset. */
const STALLED_CALL_MS = 2000;

/**
 * GatewayService through connect-es: Connect and gRPC-Web clients (browsers, buf curl), and
 * gRPC clients when the gateway's own gRPC path is off. Both methods open a session and write
 * whatever it queues; Connect also reads the client's messages.
 */
export function createGatewayService(deps: { core: StreamCore; logger: Logger }): ServiceImpl<typeof GatewayService> {
  const { core } = deps;

  /** Reads the client's messages into the session; the end of input closes it after pending requests. */
  async function readMessages(requests: AsyncIterable<ClientMessage>, session: StreamSession): Promise<void> {
    try {
      for await (const msg of requests) {
        core.receive(session, msg, core.now());
        const room = session.roomToReceive();
        if (room) await room;
      }
      await session.settled();
      session.close();
    } catch (err) {
      session.fail(err);
    }
  }

  /**
   * Serves one stream: opens its session, lets `begin` start the input side, writes the
   * session's messages, maps a failure to its status, and always releases the session.
   */
  async function* serve(ctx: HandlerContext, kind: StreamKind, begin: (session: StreamSession) => void): AsyncGenerator<ServerMessageInit> {
    let opened: Awaited<ReturnType<StreamCore["open"]>> | undefined;
    // Client gone, deadline, or server shutdown: end the writer with the reason. connect-node
    // aborts with a bare AbortError when the client closed the call without an error code (an
    // HTTP/1.1 connection that closes, an HTTP/2 reset with NO_ERROR): the client's CANCELLED.
    const abort = () => {
      const reason: unknown = ctx.signal.reason;
      opened?.session.fail(reason instanceof ConnectError ? reason : new ConnectError("the client closed the stream", Code.Canceled));
    };
    let reason = "closed";
    try {
      const user = requireUser(ctx);
      opened = await core.open(user, ctx.requestHeader.get("authorization") ?? "", kind);
      // The client may have gone while its place was checked.
      if (ctx.signal.aborted) abort();
      else ctx.signal.addEventListener("abort", abort, { once: true });
      begin(opened.session);
      const failed = opened;
      void failed.session.whenFailed().then(() => {
        // The failure reaches the client as the stream's status, unless the call cannot end:
        // its writer is stuck behind a client that does not read (the status would wait behind
        // unread data), or connect-es waits for the client's input to end. Then the stream is
        // reset (RESOURCE_EXHAUSTED for gRPC and Connect clients) and released. connect-es
        // aborts ctx.signal when a call has ended.
        const check = setTimeout(() => {
          if (ctx.signal.aborted) return;
          ctx.values.get(resetCallKey)();
          failed.close("stalled");
        }, STALLED_CALL_MS);
        check.unref();
      });
      for (;;) {
        const next = await opened.session.nextOutbound();
        if (next.done) return;
        core.departing(opened.session, next.value);
        yield next.value;
      }
    } catch (err) {
      const e = toConnectError(err, deps.logger.child({ sessionId: opened?.session.id, roomId: opened?.session.roomId }));
      reason = Code[e.code] ?? "unknown";
      throw e;
    } finally {
      ctx.signal.removeEventListener("abort", abort);
      opened?.close(reason);
    }
  }

  return {
    connect: (requests, ctx) => serve(ctx, "connect", (session) => void readMessages(requests, session)),

    subscribe: (req, ctx) =>
      serve(ctx, "subscribe", (session) => {
        core.subscribe(session, requireId(req.roomId, "room_id"));
      }),
  };
}
