import type * as http from "node:http";
import type * as http2 from "node:http2";
import { cors } from "@connectrpc/connect";

/** Origins whose pages may call the server: a list of exact origins, or "*" for any. */
export type CorsOrigins = "*" | readonly string[];

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;
type Handler = (req: Request, res: Response) => void;

/** What a page may send besides the protocols' own headers: the token and a request id. */
const ALLOWED_HEADERS = [...cors.allowedHeaders, "Authorization", "X-Request-Id"].join(", ");
/** What a page may read besides the protocols' own headers. */
const EXPOSED_HEADERS = [...cors.exposedHeaders, "X-Request-Id"].join(", ");
/** How long a browser may reuse a preflight answer (Chromium caps it at 2 hours). */
const PREFLIGHT_MAX_AGE_S = 7200;

/**
 * Lets web pages from `origins` call the server with Connect and gRPC-Web (CORS, with the
 * header lists connect-es publishes for its protocols). Preflight requests (OPTIONS) are
 * answered here: 204 with the allowed methods and headers, or 403 for another origin. Other
 * requests from an allowed origin get the allow-origin and expose-headers fields, and
 * Timing-Allow-Origin, which lets the page see the network stack's stamps of its fetches (the
 * SDK's clock takes its pings' send and receive times from them: see network-stamps.ts); a
 * request from another origin is served as usual, without them, so the browser keeps the
 * answer from the page.
 */
export function withCors(origins: CorsOrigins, next: Handler): Handler {
  const anyOrigin = origins === "*";
  const allowed = (origin: string) => anyOrigin || origins.includes(origin);
  return (req, res) => {
    const origin = req.headers.origin;
    if (typeof origin !== "string") return next(req, res);
    const preflight = req.method === "OPTIONS" && req.headers["access-control-request-method"] !== undefined;
    // The answer depends on the origin: caches must not hand one origin's answer to another.
    if (!anyOrigin) res.setHeader("Vary", "Origin");
    if (!allowed(origin)) {
      if (!preflight) return next(req, res);
      res.writeHead(403, { "Content-Type": "text/plain" });
      res.end("origin not allowed\n");
      return;
    }
    res.setHeader("Access-Control-Allow-Origin", anyOrigin ? "*" : origin);
    if (preflight) {
      res.writeHead(204, {
        "Access-Control-Allow-Methods": cors.allowedMethods.join(", "),
        "Access-Control-Allow-Headers": ALLOWED_HEADERS,
        "Access-Control-Max-Age": String(PREFLIGHT_MAX_AGE_S),
      });
      res.end();
      return;
    }
    res.setHeader("Access-Control-Expose-Headers", EXPOSED_HEADERS);
    res.setHeader("Timing-Allow-Origin", anyOrigin ? "*" : origin);
    next(req, res);
  };
}

/**
 * GATEWAY_CORS_ORIGINS: "*", or origins separated by commas ("https://app.example,
 * http://localhost:5173"); each must be a bare origin (scheme, host, port; no path).
 */
export function parseCorsOrigins(raw: string): CorsOrigins {
  if (raw.trim() === "*") return "*";
  return raw
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part !== "")
    .map((part) => {
      let url: URL;
      try {
        url = new URL(part);
      } catch {
        throw new Error(`"${part}" is not an origin like https://app.example`);
      }
      if (!["http:", "https:"].includes(url.protocol) || url.origin !== part.replace(/\/$/, "")) {
        throw new Error(`"${part}" is not an origin like https://app.example (scheme, host and port only)`);
      }
      return url.origin;
    });
}
