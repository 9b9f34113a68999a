/**
 * A plain @grpc/grpc-js server doing what the gateway's hot paths do, and nothing else: it
 * answers a ping with a pong stamped on receipt (t1) and just before the write (t2), puts a
 * stream that sends join_room in that room (in memory), and on a playback start command sends
 * playback_started to every stream of the room. The peer benchmark runs it beside the gateway
 * under the same load client, as the reference for what a Node gRPC server costs.
 */
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import type { Histogram } from "prom-client";
import { ServerMessageSchema } from "../../gen/groovebox/gateway/v1/gateway_pb.js";
import { createHostClock } from "../../services/common/clock/host-clock.js";
import { serveDefaultMetrics } from "./peer-metrics.js";
import { connectMethod, type ClientMessage, type ServerMessage, type ServerReady } from "./wire.js";

/** This process's server time, as in a service process. */
const clock = createHostClock();

type Call = grpc.ServerDuplexStream<ClientMessage, ServerMessage>;

const rooms = new Map<string, Set<Call>>();

function onMessage(call: Call, msg: ClientMessage, joined: { room: string }, fanout: Histogram): void {
  const m = msg.message;
  switch (m.case) {
    case "ping": {
      const t1 = clock.now();
      const pong = create(ServerMessageSchema, {
        requestId: msg.requestId,
        message: { case: "pong", value: { seq: m.value.seq, clientSendTimeMs: m.value.clientSendTimeMs, serverReceiveTimeMs: t1 } },
      });
      if (pong.message.case === "pong") pong.message.value.serverSendTimeMs = clock.now();
      call.write(pong);
      return;
    }
    case "joinRoom": {
      joined.room = m.value.roomCode;
      let members = rooms.get(joined.room);
      if (members === undefined) rooms.set(joined.room, (members = new Set()));
      members.add(call);
      call.write(create(ServerMessageSchema, { requestId: msg.requestId, message: { case: "roomState", value: { roomCode: joined.room } } }));
      return;
    }
    case "playbackCommand": {
      const start = m.value.command.case === "start" ? m.value.command.value : undefined;
      if (start === undefined) return;
      const arrived = performance.now();
      const event = create(ServerMessageSchema, {
        message: { case: "playbackStarted", value: { trackId: start.trackId, serverTimestamp: clock.now() } },
      });
      for (const member of rooms.get(joined.room) ?? []) member.write(event);
      fanout.observe((performance.now() - arrived) / 1000);
      return;
    }
    default:
      return;
  }
}

async function main(): Promise<void> {
  const metrics = await serveDefaultMetrics();
  const server = new grpc.Server();
  server.addService(connectMethod, {
    connect: (call: Call) => {
      const joined = { room: "" };
      call.write(create(ServerMessageSchema, { message: { case: "hello", value: { serverTimestamp: clock.now() } } }));
      call.on("data", (msg: ClientMessage) => onMessage(call, msg, joined, metrics.fanout));
      call.on("error", () => undefined);
      const leave = () => rooms.get(joined.room)?.delete(call);
      call.on("end", () => {
        leave();
        call.end();
      });
      call.on("cancelled", leave);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const ready: ServerReady = { kind: "listening", port, metricsPort: metrics.port };
  process.send?.(ready);
}

void main();
