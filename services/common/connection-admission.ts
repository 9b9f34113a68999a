import type * as net from "node:net";

/**
 * Sheds new connections when too many are still getting started. A connection is pending from
 * the moment it is accepted until it starts its first call, closes, or has had `handshakeMs` to
 * do so; setting one up (an HTTP/2 session, buffers, a first request) is most of what a burst
 * of new clients costs. The handshake window keeps silent connections from holding the door
 * shut: one that says nothing stops counting after it (and the idle timeout closes it). When
 * `maxPending` connections are pending, a new one is closed at once, which costs next to
 * nothing: its client sees the connection reset (UNAVAILABLE) right away and retries later,
 * instead of every client of the burst waiting until its deadline while all of them are set up
 * at once. Connections that carry calls are never affected.
 */
export function createConnectionAdmission(maxPending: number, handshakeMs = 1000) {
  let pending = 0;
  const releases = new WeakMap<object, () => void>();

  function release(connection: object): void {
    releases.get(connection)?.();
  }

  return {
    /** A new connection: false when it must be shed (the caller destroys it). */
    admit(socket: net.Socket): boolean {
      if (pending >= maxPending) return false;
      pending++;
      let done = false;
      const free = () => {
        if (done) return;
        done = true;
        pending--;
        clearTimeout(window);
      };
      const window = setTimeout(free, handshakeMs);
      window.unref();
      releases.set(socket, free);
      socket.once("close", free);
      return true;
    },
    /** The same connection under another name (the HTTP/2 session of a socket). */
    alias(socket: net.Socket, connection: object): void {
      const free = releases.get(socket);
      if (free) releases.set(connection, free);
    },
    /** The connection (socket or session) started its first call: it no longer counts. */
    started: release,
    /** Connections accepted that have not started a call. */
    pending: () => pending,
  };
}
