/**
 * A socket.io server doing the seed's socket protocol for the peer benchmark: sync:ping
 * answered by sync:pong with receive and send stamps, room:join into a socket.io room, and
 * playback:start emitted to the room as playback:started. The reference for what the seed's
 * own stack costs under the same load.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Server } from "socket.io";
import { createHostClock } from "../../services/common/clock/host-clock.js";
import { serveDefaultMetrics } from "./peer-metrics.js";
import { ioEvents, type IoPing, type IoPong, type ServerReady } from "./wire.js";

/** This process's server time, as in a service process. */
const clock = createHostClock();

async function main(): Promise<void> {
  const metrics = await serveDefaultMetrics();
  const http = createServer();
  const io = new Server(http, { transports: ["websocket"], serveClient: false });
  io.on("connection", (socket) => {
    socket.on(ioEvents.ping, (ping: IoPing) => {
      const t1 = clock.now();
      const pong: IoPong = { seq: ping.seq, clientSendTimeMs: ping.clientSendTimeMs, serverReceiveTimeMs: t1, serverSendTimeMs: 0 };
      pong.serverSendTimeMs = clock.now();
      socket.emit(ioEvents.pong, pong);
    });
    socket.on(ioEvents.join, (room: string, ack: () => void) => {
      void socket.join(room);
      ack();
    });
    socket.on(ioEvents.start, (start: { trackId: string }) => {
      const arrived = performance.now();
      for (const room of socket.rooms) {
        if (room !== socket.id) io.to(room).emit(ioEvents.started, { trackId: start.trackId, serverTimestamp: clock.now() });
      }
      metrics.fanout.observe((performance.now() - arrived) / 1000);
    });
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const ready: ServerReady = { kind: "listening", port: (http.address() as AddressInfo).port, metricsPort: metrics.port };
  process.send?.(ready);
}

void main();
