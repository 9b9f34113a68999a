import { Code } from "@connectrpc/connect";
import type { ClientMessage, Ping } from "../../gen/groovebox/gateway/v1/gateway_pb.js";
import type { SyncReport } from "../../gen/groovebox/clock/v1/clock_pb.js";
import type { ClockSource } from "../common/clock-source.js";
import type { Logger } from "../common/logger.js";
import { MAX_EPOCH_MS } from "../common/validate.js";
import type { ClockReporter } from "./clock-reporter.js";
import type { GatewayMetrics } from "./metrics.js";
import type { RoomRequests } from "./room-requests.js";
import type { StreamSession } from "./stream-session.js";

const MAX_REQUEST_ID_LENGTH = 64;
const isEpochMs = (t: number) => Number.isFinite(t) && t >= 0 && t <= MAX_EPOCH_MS;
/** A client's sync reports are kept at most this often; extra ones are ignored. */
const REPORT_INTERVAL_MS = 1000;

export interface ClientMessageDeps {
  clock: ClockSource;
  reporter: ClockReporter;
  rooms: RoomRequests;
  metrics: GatewayMetrics;
  /** Keeps a member's sync report in their room (RoomService/ReportSync, as the user). */
  reportSync(session: StreamSession, report: SyncReport): Promise<unknown>;
  logger: Logger;
}

/**
 * Handles each message a client sends on its Connect stream. Pings are answered inline, so a
 * pong never waits behind a request; requests run in order in the background and answer
 * with their request_id.
 */
export function createClientMessageHandler(deps: ClientMessageDeps) {
  const lastReport = new WeakMap<StreamSession, number>();

  function handlePing(session: StreamSession, requestId: string, ping: Ping, t1: number): void {
    if (!isEpochMs(ping.clientSendTimeMs)) {
      session.sendError(requestId, Code.InvalidArgument, `ping.client_send_time_ms must be a time between 0 and ${MAX_EPOCH_MS} (epoch ms)`, ping.seq);
      return;
    }
    if (!session.admitPing(t1)) {
      deps.metrics.pingsRefused.inc();
      session.refuse(requestId, "too many pings: slow down", ping.seq);
      return;
    }
    // t2 is stamped by the stream's writer, just before the pong is handed to the wire.
    session.send({
      requestId,
      message: {
        case: "pong",
        value: { seq: ping.seq, clientSendTimeMs: ping.clientSendTimeMs, serverReceiveTimeMs: t1, serverSendTimeMs: 0 },
      },
    });
    const prev = ping.prev;
    if (prev === undefined || !isEpochMs(prev.clientReceiveTimeMs)) return;
    const pong = session.takePong(prev.seq);
    if (pong === undefined) return;
    deps.reporter.addSample({
      sessionId: session.id,
      roomId: session.roomId,
      clientSendTimeMs: pong.t0,
      serverReceiveTimeMs: pong.t1,
      serverSendTimeMs: pong.t2,
      clientReceiveTimeMs: prev.clientReceiveTimeMs,
    });
  }

  /**
   * A sync report goes to the stream's room (the rooms service checks it), at most one a
   * second; it is not answered, so a report that fails is only logged.
   */
  function handleReport(session: StreamSession, report: SyncReport, nowMs: number): void {
    if (session.roomId === "" || (lastReport.get(session) ?? -Infinity) > nowMs - REPORT_INTERVAL_MS) return;
    lastReport.set(session, nowMs);
    deps.reportSync(session, report).catch((err: unknown) => {
      deps.logger.debug({ err, sessionId: session.id, roomId: session.roomId }, "sync report not recorded");
    });
  }

  return function handleClientMessage(session: StreamSession, msg: ClientMessage, receivedAtMs: number): void {
    const { requestId } = msg;
    if (requestId.length > MAX_REQUEST_ID_LENGTH) {
      session.sendError("", Code.InvalidArgument, `request_id must be at most ${MAX_REQUEST_ID_LENGTH} characters`);
      return;
    }
    const m = msg.message;
    switch (m.case) {
      case "ping":
        return handlePing(session, requestId, m.value, receivedAtMs);
      case "syncReport":
        return handleReport(session, m.value, receivedAtMs);
      case "joinRoom":
        return session.runInOrder(requestId, () => deps.rooms.join(session, requestId, m.value.roomCode));
      case "leaveRoom":
        return session.runInOrder(requestId, () => deps.rooms.leave(session, requestId));
      case "getRoomState":
        return session.runInOrder(requestId, () => deps.rooms.state(session, requestId));
      case "playbackCommand":
        return session.runInOrder(requestId, () => deps.rooms.playback(session, requestId, m.value));
      default:
        session.sendError(requestId, Code.InvalidArgument, "message has no known field set");
    }
  };
}

export type ClientMessageHandler = ReturnType<typeof createClientMessageHandler>;
