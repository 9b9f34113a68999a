import * as http2 from "node:http2";
import type * as http from "node:http";
import { createContextKey } from "@connectrpc/connect";

/**
 * Resets the transport of the current call: its HTTP/2 stream with ENHANCE_YOUR_CALM, or its
 * HTTP/1.1 connection. For a call whose status can no longer reach the client (it stopped
 * reading, so the status would wait behind data that never leaves): gRPC and Connect clients
 * read a stream reset with ENHANCE_YOUR_CALM as RESOURCE_EXHAUSTED.
 */
export const resetCallKey = createContextKey<() => void>(() => {}, { description: "reset the call's stream" });

/** The reset of one request's transport (for connect-node's contextValues). */
export function callReset(req: http.IncomingMessage | http2.Http2ServerRequest): () => void {
  return () => {
    if ("stream" in req && req.stream) {
      if (!req.stream.closed) req.stream.close(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    } else {
      req.socket.destroy();
    }
  };
}
