import { Code, ConnectError } from "@connectrpc/connect";
import { asConnectionLoss } from "./connection-loss.js";

/** A Node system error as Node makes them: an Error with a string code. */
const nodeError = (code: string, cause?: unknown) => Object.assign(new Error(code, { cause }), { code });

describe("asConnectionLoss", () => {
  it.each([
    ["a socket reset (connect-node: ABORTED)", ConnectError.from(nodeError("ECONNRESET"), Code.Aborted)],
    ["a socket reset (connect-node: INTERNAL)", ConnectError.from(nodeError("ECONNRESET"), Code.Internal)],
    ["a broken pipe", ConnectError.from(nodeError("EPIPE"), Code.Internal)],
    ["a torn-down session's stream", ConnectError.from(nodeError("ERR_HTTP2_STREAM_CANCEL", nodeError("ECONNRESET")), Code.Internal)],
    ["a reset deeper in the causes", new ConnectError("wrapped", Code.Unknown, undefined, undefined, new Error("outer", { cause: nodeError("ECONNRESET") }))],
    ["a stream closed with CANCEL that nobody on the device cancelled", new ConnectError("http/2 stream closed with error code CANCEL (0x8)", Code.Canceled)],
    ["a browser's stream whose connection broke (connect-web: UNKNOWN, fetch's TypeError)", ConnectError.from(new TypeError("network error"))],
    ["a browser's call that found no connection", ConnectError.from(new TypeError("Failed to fetch"))],
    ["a stream cut between two messages (connect-web)", ConnectError.from("missing EndStreamResponse")],
    ["a stream cut between two messages (connect-node)", new ConnectError("protocol error: missing EndStreamResponse", Code.InvalidArgument)],
  ])("reports %s as UNAVAILABLE, keeping the original as its cause", (_, err) => {
    const reported = asConnectionLoss(err);
    expect(reported.code).toBe(Code.Unavailable);
    expect(reported.cause).toBe(err);
    expect(reported.rawMessage).toContain(err.rawMessage);
  });

  it.each([
    ["UNAVAILABLE already", new ConnectError("PING timed out", Code.Unavailable)],
    ["the server's own status", new ConnectError("token expired", Code.Unauthenticated)],
    ["a slow consumer's reset", new ConnectError("the server reset the stream (ENHANCE_YOUR_CALM)", Code.ResourceExhausted)],
    ["an INTERNAL with no lost connection behind it", ConnectError.from(nodeError("ERR_SOMETHING_ELSE"), Code.Internal)],
    ["a TypeError that is a bug, not a lost connection", ConnectError.from(new TypeError("Cannot read properties of undefined (reading 'x')"))],
  ])("passes %s as it is", (_, err) => {
    expect(asConnectionLoss(err)).toBe(err);
  });
});
