import * as http2 from "node:http2";
import { Code } from "@connectrpc/connect";

/** The three protocols the public port speaks, with binary protobuf. */
export type WireProtocol = "grpc" | "grpc-web" | "connect";

/**
 * How a call ended, as a client of its protocol reads it: a status code (0 = OK), or "open"
 * when the server had not ended it when the client gave up waiting.
 */
export interface RawOutcome {
  code: Code | 0 | "open";
  message: string;
  /** Messages the server sent before the end. */
  messages: number;
}

/** A message envelope of gRPC, gRPC-Web and Connect streams: flags, 4-byte big-endian length, bytes. */
export function envelope(payload: Uint8Array, flags = 0, length = payload.length): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(length >>> 0, 1);
  return Buffer.concat([head, payload]);
}

/** Splits a response body into envelopes (a torn last one is left out). */
function envelopes(body: Buffer): Array<{ flags: number; payload: Buffer }> {
  const out: Array<{ flags: number; payload: Buffer }> = [];
  let at = 0;
  while (body.length - at >= 5) {
    const length = body.readUInt32BE(at + 1);
    if (body.length - at - 5 < length) break;
    out.push({ flags: body[at]!, payload: body.subarray(at + 5, at + 5 + length) });
    at += 5 + length;
  }
  return out;
}

/** "invalid_argument" (Connect's JSON) to Code.InvalidArgument. */
function codeFromConnectName(name: unknown): Code {
  const key = String(name)
    .split("_")
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join("");
  const code = (Code as unknown as Record<string, number>)[key];
  return code === undefined ? Code.Unknown : (code as Code);
}

/**
 * What a gRPC client makes of a stream reset without a status (gRPC over HTTP/2):
 * ENHANCE_YOUR_CALM is RESOURCE_EXHAUSTED, CANCEL is CANCELLED, REFUSED_STREAM is UNAVAILABLE,
 * anything else INTERNAL.
 */
function codeFromReset(rstCode: number): Code {
  const c = http2.constants;
  if (rstCode === c.NGHTTP2_ENHANCE_YOUR_CALM) return Code.ResourceExhausted;
  if (rstCode === c.NGHTTP2_CANCEL) return Code.Canceled;
  if (rstCode === c.NGHTTP2_REFUSED_STREAM) return Code.Unavailable;
  return Code.Internal;
}

/** The grpc-status of a header block or of gRPC-Web's trailer text. */
function statusOf(fields: Record<string, unknown>): { code: Code | 0; message: string } | undefined {
  const status = fields["grpc-status"];
  if (status === undefined) return undefined;
  return { code: Number(status) as Code | 0, message: decodeURIComponent(String(fields["grpc-message"] ?? "")) };
}

function parseWebTrailer(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split("\r\n")) {
    const i = line.indexOf(":");
    if (i > 0) fields[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return fields;
}

export interface RawCall {
  /** "/package.Service/Method". */
  path: string;
  protocol: WireProtocol;
  /** Connect unary calls send the message bare; every other call sends envelopes. */
  streaming: boolean;
  /** The request body exactly as it goes on the wire. */
  body: Uint8Array;
  headers?: Record<string, string>;
  /** How long to wait for the end of the call before reporting it "open" (and cancelling it). */
  waitMs?: number;
  /** Send the body without ending it, then reset the stream (a client that gives up mid-request). */
  abandon?: boolean;
  /** Report the call "open" (and cancel it) as soon as the server has sent this many messages. */
  openAfterMessages?: number;
}

/** The content type of a call: the protocol's binary protobuf one. */
function contentType(protocol: WireProtocol, streaming: boolean): string {
  if (protocol === "grpc") return "application/grpc+proto";
  if (protocol === "grpc-web") return "application/grpc-web+proto";
  return streaming ? "application/connect+proto" : "application/proto";
}

/**
 * Sends request bodies that no generated client would send, over one HTTP/2 connection, and
 * reads each call's outcome as a client of its protocol would.
 */
export function createRawClient(url: string) {
  /** What happened to the connection, for the message of a call that got no status. */
  let connection = "";
  let current: http2.ClientHttp2Session | undefined;
  /**
   * The open connection, or a new one: as any client, it connects when it has a call to make
   * (the gateway closes a connection that starts no call within a second, or idles).
   */
  const session = () => {
    if (current && !current.closed && !current.destroyed) return current;
    const s = http2.connect(url);
    connection = "";
    s.on("error", (err) => (connection = `connection error ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    s.on("goaway", (code) => (connection = `GOAWAY ${code}`));
    current = s;
    return s;
  };

  function call(c: RawCall): Promise<RawOutcome> {
    return new Promise((resolve) => {
      const stream = session().request({
        ":method": "POST",
        ":path": c.path,
        "content-type": contentType(c.protocol, c.streaming),
        ...(c.protocol === "grpc" ? { te: "trailers" } : {}),
        ...(c.protocol === "grpc-web" ? { "x-grpc-web": "1" } : {}),
        ...(c.protocol === "connect" ? { "connect-protocol-version": "1" } : {}),
        ...c.headers,
      });
      let headers: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders | undefined;
      const chunks: Buffer[] = [];
      let settled = false;
      const done = (outcome: Omit<RawOutcome, "messages">, messages: number) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
        resolve({ ...outcome, messages });
      };
      const timer = setTimeout(() => done({ code: "open", message: "" }, envelopes(Buffer.concat(chunks)).length), c.waitMs ?? 5000);
      stream.on("response", (h) => (headers = h));
      stream.on("trailers", (t) => (trailers = t));
      stream.on("data", (chunk: Buffer) => {
        chunks.push(chunk);
        if (c.openAfterMessages === undefined) return;
        const messages = envelopes(Buffer.concat(chunks)).filter((e) => (e.flags & 0x82) === 0).length;
        if (messages >= c.openAfterMessages) done({ code: "open", message: "" }, messages);
      });
      stream.on("error", () => {});
      // The response is complete when its body ends (the request may still be unsent: a
      // server that refuses a call does not read the rest of it), or the stream closes.
      const judge = () => {
        const body = Buffer.concat(chunks);
        const httpStatus = Number(headers[":status"] ?? 0);
        if (c.protocol === "connect" && !c.streaming) {
          if (httpStatus === 200) return done({ code: 0, message: "" }, 1);
          let error: { code?: unknown; message?: unknown } = {};
          try {
            error = JSON.parse(body.toString("utf8"));
          } catch {
            // not JSON: judged by the HTTP status below
          }
          if (error.code === undefined) return done({ code: httpStatus === 0 ? codeFromReset(stream.rstCode ?? 0) : Code.Unknown, message: `HTTP ${httpStatus}` }, 0);
          return done({ code: codeFromConnectName(error.code), message: String(error.message ?? "") }, 0);
        }
        if (c.protocol === "connect") {
          const all = envelopes(body);
          const end = all.find((e) => (e.flags & 0x02) !== 0);
          const messages = all.filter((e) => (e.flags & 0x02) === 0).length;
          if (end === undefined) {
            return done({ code: httpStatus === 200 || httpStatus === 0 ? codeFromReset(stream.rstCode ?? 0) : Code.Unknown, message: "no end-stream message" }, messages);
          }
          const { error } = JSON.parse(end.payload.toString("utf8")) as { error?: { code?: unknown; message?: unknown } };
          return done(error ? { code: codeFromConnectName(error.code), message: String(error.message ?? "") } : { code: 0, message: "" }, messages);
        }
        if (c.protocol === "grpc-web") {
          const all = envelopes(body);
          const trailer = all.find((e) => (e.flags & 0x80) !== 0);
          const messages = all.filter((e) => (e.flags & 0x80) === 0).length;
          const status = statusOf(headers) ?? (trailer ? statusOf(parseWebTrailer(trailer.payload.toString("utf8"))) : undefined);
          return done(status ?? { code: httpStatus === 200 || httpStatus === 0 ? codeFromReset(stream.rstCode ?? 0) : Code.Unknown, message: `no status (reset ${stream.rstCode}) ${connection}` }, messages);
        }
        const messages = envelopes(body).length;
        const status = statusOf(headers) ?? (trailers ? statusOf(trailers) : undefined);
        done(status ?? { code: codeFromReset(stream.rstCode ?? 0), message: `reset ${stream.rstCode} ${connection}` }, messages);
      };
      stream.on("end", judge);
      stream.on("close", judge);
      if (!c.abandon) {
        stream.end(c.body);
        return;
      }
      stream.write(c.body);
      setImmediate(() => !stream.closed && stream.close(http2.constants.NGHTTP2_CANCEL));
    });
  }

  return {
    call,
    close: () => current?.destroy(),
  };
}
