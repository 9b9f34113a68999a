import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client, type HandlerContext, type Interceptor, type ServiceImpl, type Transport } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { serviceCredentialsInterceptor } from "./auth/service-credentials.js";
import type { TokenService } from "./auth/tokens.js";
import type { ClockSource } from "./clock-source.js";

/** A transport to another service, and a way to close its connection (on shutdown). */
export interface InternalTransport {
  transport: Transport;
  close(): void;
}

/**
 * A gRPC (HTTP/2) transport to another groovebox service. Calls without an Authorization
 * header get this service's own credential; HTTP/2 pings keep the connection honest.
 */
export function createInternalTransport(
  baseUrl: string,
  caller: { service: string; tokens: TokenService; clock: ClockSource },
  opts: { timeoutMs?: number } = {},
): InternalTransport {
  const sessionManager = new Http2SessionManager(baseUrl, {
    pingIntervalMs: 15_000,
    pingTimeoutMs: 5000,
    idleConnectionTimeoutMs: 5 * 60_000,
  });
  return {
    transport: createGrpcTransport({
      baseUrl,
      sessionManager,
      interceptors: [unreachableIsUnavailable, serviceCredentialsInterceptor(caller.tokens, caller.service, caller.clock)],
      defaultTimeoutMs: opts.timeoutMs ?? 5000,
      acceptCompression: [], // loopback or datacenter links: compression only costs CPU
    }),
    close: () => sessionManager.abort(),
  };
}

/**
 * A call that failed on the way, not at the other service (connection refused, reset, a
 * session that died with its process): connect-es reports these as INTERNAL or ABORTED, but
 * for the caller the service is unavailable, and a retry is the right answer. Errors the
 * other service sent (they come with a grpc-status) pass through with their code, message and
 * details but without the headers of that response, which would otherwise be sent on as this
 * service's own; deadlines and cancellations pass through; the address of the service is not
 * passed on.
 */
const unreachableIsUnavailable: Interceptor = (next) => async (req) => {
  try {
    return await next(req);
  } catch (err) {
    const e = ConnectError.from(err);
    if (e.metadata.has("grpc-status")) {
      const answered = new ConnectError(e.rawMessage, e.code);
      answered.details = e.details;
      throw answered;
    }
    if (e.code === Code.DeadlineExceeded || e.code === Code.Canceled || req.signal.aborted) throw err;
    throw new ConnectError("a service this call needs is unavailable; retry shortly", Code.Unavailable, undefined, undefined, err);
  }
};

/** The headers a gateway passes on when it calls a service on the caller's behalf. */
export function forwardedHeaders(ctx: HandlerContext): Headers {
  const headers = new Headers();
  for (const name of ["authorization", "x-request-id"]) {
    const value = ctx.requestHeader.get(name);
    if (value !== null) headers.set(name, value);
  }
  return headers;
}

/**
 * Serves every unary method of `service` by calling the same method on `client` with the
 * caller's credentials: the gateway's public port answers for an internal service. Errors of
 * the service reach the caller with their code.
 */
export function createUnaryProxy<S extends DescService>(service: S, client: Client<S>): Partial<ServiceImpl<S>> {
  const impl: Record<string, unknown> = {};
  const calls = client as unknown as Record<string, (req: unknown, opts: object) => Promise<unknown>>;
  for (const method of service.methods) {
    if (method.methodKind !== "unary") continue;
    impl[method.localName] = (req: unknown, ctx: HandlerContext) =>
      calls[method.localName]!(req, { signal: ctx.signal, headers: forwardedHeaders(ctx), timeoutMs: ctx.timeoutMs() });
  }
  return impl as Partial<ServiceImpl<S>>;
}
