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
 * The Node error codes along an error's chain of causes. Duck-typed, not `instanceof Error`:
 * an error Node made in another realm (a test runner's sandbox) is no instance of this one's.
 */
function nodeCodes(err: unknown): string[] {
  const codes: string[] = [];
  let e = err as { code?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; typeof e === "object" && e !== null && depth < 8; depth++) {
    if (typeof e.code === "string") codes.push(e.code);
    e = e.cause as typeof e;
  }
  return codes;
}

/**
 * The status a device reports when its connection ended without anyone on the device asking:
 * UNAVAILABLE (try again) for a lost connection, whatever connect-node made of it. connect-node
 * reports a socket reset as ABORTED or INTERNAL "ECONNRESET" (it takes it for a client hanging
 * up, as a server would) and a torn-down HTTP/2 session as CANCELLED (the RST_STREAM code Node
 * closes its streams with), while gRPC clients call both UNAVAILABLE. Other errors, and losses
 * already reported as UNAVAILABLE, pass as they are.
 *
 * Only for ends the device did not cause: its own close() is a real CANCELLED.
 */
export function asConnectionLoss(err: ConnectError): ConnectError {
  if (err.code === Code.Unavailable) return err;
  const lost = err.code === Code.Canceled || nodeCodes(err).some((c) => LOST_CONNECTION_CODES.has(c));
  if (!lost) return err;
  return new ConnectError(`the connection to the gateway was lost (${err.rawMessage})`, Code.Unavailable, undefined, undefined, err);
}
