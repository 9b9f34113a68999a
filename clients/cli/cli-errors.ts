import { Code, ConnectError } from "@connectrpc/connect";

/** Exit codes of the groovebox CLI. */
export const EXIT = {
  ok: 0,
  failed: 1,
  /** Bad usage or input: a malformed code, a missing argument, no room chosen. */
  usage: 2,
  /** Not logged in, or the login expired. */
  notLoggedIn: 3,
  /** No such room or code. */
  notFound: 4,
  /** Refused: not the DJ, not a member, not allowed now. */
  refused: 5,
  /** The server cannot be reached. */
  unavailable: 6,
} as const;

/** A failure the CLI explains in one line and ends with this exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** The one-line explanation and exit code of anything a command threw. */
export function explain(err: unknown, server: string): CliError {
  if (err instanceof CliError) return err;
  if (!(err instanceof ConnectError)) return new CliError(String((err as Error)?.message ?? err), EXIT.failed);
  switch (err.code) {
    case Code.Unavailable:
    case Code.DeadlineExceeded:
      return new CliError(`cannot reach the server at ${server} (is it running? npm start)`, EXIT.unavailable);
    case Code.Unauthenticated:
      return new CliError("not logged in, or the login expired: groovebox login <name>", EXIT.notLoggedIn);
    case Code.NotFound:
      return new CliError(err.rawMessage, EXIT.notFound);
    case Code.PermissionDenied:
    case Code.FailedPrecondition:
      return new CliError(err.rawMessage, EXIT.refused);
    case Code.InvalidArgument:
      return new CliError(err.rawMessage, EXIT.usage);
    default:
      return new CliError(`${Code[err.code]}: ${err.rawMessage}`, EXIT.failed);
  }
}
