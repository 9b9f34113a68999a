import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "./logger.js";

/**
 * An expected failure of a domain rule (unknown room, not the DJ, stale version). Services
 * throw these; the handlers' error mapping turns them into ConnectErrors with their code.
 */
export class DomainError extends Error {
  constructor(
    readonly code: Code,
    message: string,
  ) {
    super(message);
    this.name = "DomainError";
  }
}

/** Shorthands for the domain errors every service uses. */
export const invalidArgument = (message: string) => new DomainError(Code.InvalidArgument, message);
export const notFound = (message: string) => new DomainError(Code.NotFound, message);
export const permissionDenied = (message: string) => new DomainError(Code.PermissionDenied, message);
export const failedPrecondition = (message: string) => new DomainError(Code.FailedPrecondition, message);

/**
 * Node's codes for a write to, or a read from, a stream the peer has reset or closed: the
 * client went away. Matched by code along the cause chain, never by class: Node creates these
 * errors in its own realm, so `instanceof Error` fails for them under Jest's VM contexts.
 */
const CLIENT_GONE_CODES = new Set(["ERR_STREAM_DESTROYED", "ERR_HTTP2_INVALID_STREAM", "ERR_STREAM_WRITE_AFTER_END", "ECONNRESET", "EPIPE"]);

/** True when `err`, or an error in its cause chain, says the client's stream is gone. */
export function isClientGone(err: unknown): boolean {
  const seen = new Set<unknown>();
  for (let e = err; typeof e === "object" && e !== null && !seen.has(e); e = (e as { cause?: unknown }).cause) {
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && CLIENT_GONE_CODES.has(code)) return true;
  }
  return false;
}

/** Errors of the Redis client that mean "Redis is not reachable now", not a bug. */
function isRedisConnectionError(err: Error): boolean {
  return (
    err.name === "MaxRetriesPerRequestError" ||
    /Command timed out|Connection is closed|Stream isn't writeable|ECONNREFUSED|ECONNRESET|ClusterAllFailedError|None of startup nodes|Cluster isn't ready|CLUSTERDOWN|Too many Cluster redirections|TRYAGAIN/i.test(
      err.message,
    )
  );
}

/**
 * Turns anything thrown by a handler into the ConnectError the client gets: ConnectErrors
 * pass through, domain errors keep their code, a Redis outage is UNAVAILABLE, and anything
 * else is logged and answered INTERNAL without internals.
 */
export function toConnectError(err: unknown, log: Logger): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof DomainError) return new ConnectError(err.message, err.code);
  // A write racing the client's reset: nobody is left to answer, and it is no bug.
  if (isClientGone(err)) return new ConnectError("the client closed the stream", Code.Canceled);
  if (err instanceof Error && isRedisConnectionError(err)) {
    log.warn({ err }, "storage unavailable");
    return new ConnectError("storage is unavailable; retry shortly", Code.Unavailable);
  }
  log.error({ err }, "unexpected error");
  return new ConnectError("internal error", Code.Internal);
}
