import type * as http from "node:http";
import type * as http2 from "node:http2";
import { Code, ConnectError, createConnectRouter, type ConnectRouter, type ConnectRouterOptions, type ContextValues } from "@connectrpc/connect";
import { universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import { isClientGone } from "./errors.js";
import type { Logger } from "./logger.js";
import { checkedRequest } from "./request-check.js";

export type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
export type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;
export type NodeHandler = (req: NodeRequest, res: NodeResponse) => void;

/**
 * A Node request handler over connect-es's router: what connectNodeAdapter does, with request
 * bodies checked on the way in (see checkedRequest) and the failures of writing a response
 * logged through the service's logger. connectNodeAdapter
 * prints them with console.error, including the ordinary case of a client that hung up while
 * a stream message was being written.
 */
export function createRpcHandler(opts: {
  routes: (router: ConnectRouter) => void;
  router: ConnectRouterOptions;
  logger: Logger;
  /** Serves requests for paths that are no RPC (default: 404). */
  fallback?: NodeHandler;
  /** Per-call context values from the Node request (e.g. the peer's address). */
  contextValues?: (req: NodeRequest) => ContextValues;
}): NodeHandler {
  const router = createConnectRouter(opts.router);
  opts.routes(router);
  const maxBytes = opts.router.readMaxBytes ?? 0xffffffff;
  const handlers = new Map<string, UniversalHandler>(router.handlers.map((h) => [h.requestPath, h]));
  return (req, res) => {
    const handler = handlers.get((req.url ?? "").split("?", 1)[0]!);
    if (handler === undefined) {
      if (opts.fallback) {
        opts.fallback(req, res);
      } else {
        res.writeHead(404);
        res.end();
      }
      return;
    }
    const request = universalRequestFromNodeRequest(req, res, undefined, opts.contextValues?.(req));
    handler(checkedRequest(request, handler.method, maxBytes))
      .then((uRes) => universalResponseToNodeResponse(uRes, res))
      .catch((err: unknown) => {
        const rpc = handler.method.name;
        if (isClientGone(err) || (err instanceof ConnectError && err.code === Code.Aborted)) {
          opts.logger.debug({ err, rpc }, "client went away while the response was written");
        } else {
          opts.logger.error({ err, rpc }, "writing the response failed");
        }
      });
  };
}
