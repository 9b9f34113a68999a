import type * as http from "node:http";
import type * as http2 from "node:http2";
import type * as net from "node:net";

/**
 * Closes connections that hold a slot without using it: a connection that sends nothing, never
 * finishes its request headers, or keeps no call open, is closed `idleMs` after it opened or
 * after its last call ended. The clock runs from that moment, not from the last byte: a client
 * that trickles a header byte now and then (slowloris) is closed on time too.
 *
 * Node's HTTP/1.1 server would enforce headersTimeout itself, but only for connections it
 * accepted by listening; the service's HTTP/1.1 server is handed its connections, so the
 * timing is done here, for both protocols.
 */
export interface IdleConnectionPolicy {
  /** A new connection, until it is handed to the HTTP/1.1 or the HTTP/2 server. */
  watchUnrouted(socket: net.Socket): () => void;
  /** An HTTP/1.1 connection: idle whenever no request is in progress. */
  watchHttp1(socket: net.Socket): void;
  /** An HTTP/2 session: idle whenever it has no open stream. */
  watchHttp2(session: http2.ServerHttp2Session): void;
}

/** How long a session told to go away may take to close before its socket is destroyed. */
const GOAWAY_GRACE_MS = 1000;

export function createIdleConnectionPolicy(idleMs: number, h1: http.Server): IdleConnectionPolicy {
  /** The HTTP/1.1 connections being watched, with their timer while idle. */
  const h1Idle = new WeakMap<net.Socket, { timer: NodeJS.Timeout | undefined }>();
  const idleTimer = (fire: () => void) => {
    const timer = setTimeout(fire, idleMs);
    timer.unref();
    return timer;
  };

  h1.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    const watch = h1Idle.get(req.socket);
    if (watch === undefined) return;
    clearTimeout(watch.timer);
    watch.timer = undefined;
    res.once("close", () => {
      if (!req.socket.destroyed) watch.timer = idleTimer(() => req.socket.destroy());
    });
  });

  return {
    watchUnrouted(socket) {
      const timer = idleTimer(() => socket.destroy());
      return () => clearTimeout(timer);
    },

    watchHttp1(socket) {
      const watch = { timer: idleTimer(() => socket.destroy()) as NodeJS.Timeout | undefined };
      h1Idle.set(socket, watch);
      socket.once("close", () => clearTimeout(watch.timer));
    },

    watchHttp2(session) {
      let open = 0;
      let timer: NodeJS.Timeout | undefined;
      const goAway = () => {
        session.close();
        // A peer that reads nothing never lets the GOAWAY out: destroy after a grace.
        setTimeout(() => session.destroy(), GOAWAY_GRACE_MS).unref();
      };
      timer = idleTimer(goAway);
      session.on("stream", (stream: http2.ServerHttp2Stream) => {
        open++;
        clearTimeout(timer);
        stream.once("close", () => {
          if (--open === 0 && !session.closed && !session.destroyed) timer = idleTimer(goAway);
        });
      });
      session.once("close", () => clearTimeout(timer));
    },
  };
}
