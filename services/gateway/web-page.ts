import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { extname, join } from "node:path";
import type { Logger } from "../common/logger.js";
import type { NodeHandler } from "../common/rpc-handler.js";

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
};

/**
 * The page talks only to the gateway that served it; no inline script or style, no frames.
 * Web Audio needs nothing more.
 */
const CONTENT_SECURITY_POLICY = "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

interface PageFile {
  body: Buffer;
  headers: Record<string, string>;
}

/**
 * The browser page on the public port (built by `npm run build` into dist/web from
 * clients/web): `/` is its index.html, its other files are served by name. The files are read
 * once, at start; a gateway without a built page answers `/` with 404 and says how to build it.
 * Anything else is not found.
 */
export function createWebPage(dir: string | undefined, logger: Logger): NodeHandler {
  const files = new Map<string, PageFile>();
  if (dir !== undefined && existsSync(join(dir, "index.html"))) {
    for (const name of readdirSync(dir)) {
      const type = CONTENT_TYPES[extname(name)];
      if (type === undefined) continue;
      const body = readFileSync(join(dir, name));
      const headers: Record<string, string> = {
        "Content-Type": type,
        "Content-Length": String(body.length),
        // Revalidated on each load: a rebuilt page is seen at once, an unchanged one costs a 304.
        "Cache-Control": "no-cache",
        ETag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`,
        "X-Content-Type-Options": "nosniff",
      };
      if (name.endsWith(".html")) headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY;
      files.set(name === "index.html" ? "/" : `/${name}`, { body, headers });
    }
    logger.info({ dir, files: files.size }, "serving the browser page at /");
  } else {
    logger.info({ dir }, "no browser page to serve (npm run build makes it)");
  }

  return (req, res) => {
    const path = (req.url ?? "/").split("?", 1)[0]!;
    const file = files.get(path);
    if (file === undefined) {
      const missing = path === "/" ? "the browser page is not built here: run npm run build\n" : "not found\n";
      res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" });
      res.end(missing);
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { Allow: "GET, HEAD", "Content-Type": "text/plain; charset=utf-8" });
      res.end("only GET and HEAD\n");
      return;
    }
    if (req.headers["if-none-match"] === file.headers.ETag) {
      res.writeHead(304, { ETag: file.headers.ETag!, "Cache-Control": "no-cache" });
      res.end();
      return;
    }
    res.writeHead(200, file.headers);
    if (req.method === "HEAD") res.end();
    else res.end(file.body);
  };
}
