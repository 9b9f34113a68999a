import { Code, ConnectError } from "@connectrpc/connect";

/**
 * Node's error codes for a connection that went away under a call: the peer reset it, the
 * socket broke, or the HTTP/2 session carrying the call was torn down.
 */
const LOST_CONNECTION_CODES = new Set([
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ERR_HTTP2_STREAM_CANCEL",
  "ERR_HTTP2_SESSION_ERROR",
  "ERR_HTTP2_GOAWAY_SESSION",
  "ERR_HTTP2_INVALID_SESSION",
  "ERR_STREAM_PREMATURE_CLOSE",
]);

/**
 * What fetch() says when the connection under it failed: browsers and Node's fetch reject, or
 * fail a body's read, with a TypeError and one of these (Chromium while reading a response,
 * Chromium before one, Firefox, Safari, undici). A TypeError with another message is a bug.
 */
const FETCH_NETWORK_ERRORS = new Set(["network error", "Failed to fetch", "NetworkError when attempting to fetch resource.", "Load failed", "fetch failed"]);

/** A server stream that ended without its end message (connect-web throws these as strings). */
const TRUNCATED_STREAM = /missing (EndStreamResponse|trailer)$/;

/** The errors along an error's chain of causes, the error first. */
function causes(err: unknown): Array<{ code?: unknown; name?: unknown; message?: unknown }> {
  const chain = [];
  let e = err as { code?: unknown; name?: unknown; message?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; typeof e === "object" && e !== null && depth < 8; depth++) {
    chain.push(e);
    e = e.cause as typeof e;
  }
  return chain;
}

/**
 * The Node error codes along an error's chain of causes. Duck-typed, not `instanceof Error`:
 * an error Node made in another realm (a test runner's sandbox) is no instance of this one's.
 */
const nodeCodes = (err: unknown) => causes(err).flatMap((e) => (typeof e.code === "string" ? [e.code] : []));

/** Whether fetch() failed under the call for want of a connection (browsers, Node's fetch). */
const isFetchNetworkError = (err: unknown) => causes(err).some((e) => e.name === "TypeError" && FETCH_NETWORK_ERRORS.has(String(e.message)));

/**
 * The status a device reports when its connection ended without anyone on the device asking:
 * UNAVAILABLE (try again) for a lost connection, whatever connect-node made of it. connect-node
 * reports a socket reset as ABORTED or INTERNAL "ECONNRESET" (it takes it for a client hanging
 * up, as a server would) and a torn-down HTTP/2 session as CANCELLED (the RST_STREAM code Node
 * closes its streams with), while gRPC clients call both UNAVAILABLE. In browsers connect-web
 * reports a connection cut under a stream as UNKNOWN: fetch's TypeError ("network error" in
 * Chromium), or, when the cut came between two messages, "missing EndStreamResponse". Other
 * errors, and losses already reported as UNAVAILABLE, pass as they are.
 *
 * Only for ends the device did not cause: its own close() is a real CANCELLED.
 */
export function asConnectionLoss(err: ConnectError): ConnectError {
  if (err.code === Code.Unavailable) return err;
  const lost =
    err.code === Code.Canceled ||
    nodeCodes(err).some((c) => LOST_CONNECTION_CODES.has(c)) ||
    isFetchNetworkError(err) ||
    TRUNCATED_STREAM.test(err.rawMessage);
  if (!lost) return err;
  return new ConnectError(`the connection to the gateway was lost (${err.rawMessage})`, Code.Unavailable, undefined, undefined, err);
}
