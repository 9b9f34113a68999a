import type { ClientHttp2Session, ClientHttp2Stream } from "node:http2";
import { Http2SessionManager } from "@connectrpc/connect-node";
import { reportPeerReset } from "./peer-reset.js";

/**
 * connect-node's HTTP/2 session manager, with every session it opens kept from crashing the
 * process for as long as the session lives.
 *
 * The manager listens for a session's 'error' only while the session is its current one. A
 * session that a keepalive PING timeout (or a GOAWAY with an error) destroys emits that error
 * only once its socket has closed, and on a link that went silent that is later than the
 * streams' failure: the device sees its stream fail, reconnects or closes (both abort the
 * manager, which then drops its listeners, and attaches its own catch-all only to a session not
 * yet destroyed), and the session's error arrives with nobody listening: Node throws it, and
 * the process dies ("PING timed out"). The stream's failure has already told the device
 * everything; this listener only takes the error the manager no longer wants.
 *
 * Guarded when its first stream opens: a session is only ever used through streams. Each
 * stream's call also ends with the status of the server's reset (see reportPeerReset).
 */
export class GuardedSessionManager extends Http2SessionManager {
  private readonly guarded = new WeakSet<ClientHttp2Session>();

  override async request(...args: Parameters<Http2SessionManager["request"]>): Promise<ClientHttp2Stream> {
    const stream = await super.request(...args);
    reportPeerReset(stream);
    const session = stream.session as ClientHttp2Session | undefined;
    if (session !== undefined && !this.guarded.has(session)) {
      this.guarded.add(session);
      session.on("error", ignoreSessionError);
    }
    return stream;
  }
}

function ignoreSessionError(): void {
  // Reported through the session's streams (see GuardedSessionManager).
}
