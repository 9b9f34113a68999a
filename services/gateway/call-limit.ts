import { Code, ConnectError } from "@connectrpc/connect";

/**
 * A bound on the unary calls the gateway forwards at once (logins, room and playback calls).
 * Past it a call is refused at once with UNAVAILABLE instead of joining a queue that makes
 * every caller wait until its deadline: under a burst some callers are served quickly and the
 * rest are told to retry, and the memory held for calls in flight stays bounded.
 */
export function createCallLimit(maxInProgress: number, onRefused: () => void = () => {}) {
  let inProgress = 0;

  /** Wraps each method of a service implementation with the limit. */
  function wrap<T extends object>(impl: T): T {
    const out: Record<string, unknown> = {};
    for (const [name, method] of Object.entries(impl)) {
      out[name] = async (...args: unknown[]) => {
        if (inProgress >= maxInProgress) {
          onRefused();
          throw new ConnectError("the gateway is busy: too many calls in progress; retry with backoff", Code.Unavailable);
        }
        inProgress++;
        try {
          return await (method as (...a: unknown[]) => Promise<unknown>)(...args);
        } finally {
          inProgress--;
        }
      };
    }
    return out as T;
  }

  return { wrap, inProgress: () => inProgress };
}
