import { constants, type ClientHttp2Stream } from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";

/**
 * The status of a call whose stream the server reset with `rstCode`, for the codes that carry
 * one (gRPC over HTTP/2): ENHANCE_YOUR_CALM is RESOURCE_EXHAUSTED (the gateway's "too slow"),
 * REFUSED_STREAM is UNAVAILABLE (nothing was processed: retry). Undefined for the rest.
 */
function statusOfReset(rstCode: number | undefined, cause: unknown): ConnectError | undefined {
  if (rstCode === constants.NGHTTP2_ENHANCE_YOUR_CALM) {
    return new ConnectError("the server reset the stream (ENHANCE_YOUR_CALM)", Code.ResourceExhausted, undefined, undefined, cause);
  }
  if (rstCode === constants.NGHTTP2_REFUSED_STREAM) {
    return new ConnectError("the server refused the stream (REFUSED_STREAM)", Code.Unavailable, undefined, undefined, cause);
  }
  return undefined;
}

/**
 * Makes a call on `stream` (a stream of connect-node's HTTP/2 client) end with the status the
 * server's reset carries. Node reports a reset with any code but NO_ERROR and CANCEL as an
 * 'error' event (ERR_HTTP2_STREAM_ERROR) before the stream's 'close'; connect-node ends the
 * call with the first failure it sees, takes that error as INTERNAL, and maps the reset's code
 * only on 'close', too late. The gateway resets a stream that does not read with
 * ENHANCE_YOUR_CALM: without this, the device saw INTERNAL "Stream closed with error code
 * NGHTTP2_ENHANCE_YOUR_CALM" instead of RESOURCE_EXHAUSTED. The error is replaced with the
 * code's status (the original as its cause); other errors pass as they are.
 */
export function reportPeerReset(stream: ClientHttp2Stream): void {
  const emit = stream.emit.bind(stream) as (event: string | symbol, ...args: unknown[]) => boolean;
  stream.emit = ((event: string | symbol, ...args: unknown[]) => {
    if (event === "error" && (args[0] as { code?: unknown } | undefined)?.code === "ERR_HTTP2_STREAM_ERROR") {
      const status = statusOfReset(stream.rstCode, args[0]);
      if (status) return emit(event, status);
    }
    return emit(event, ...args);
  }) as ClientHttp2Stream["emit"];
}
