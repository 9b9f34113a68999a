import { createClient, type Client } from "@connectrpc/connect";
import { PlaybackService } from "../../gen/groovebox/playback/v1/playback_pb.js";
import { RoomService } from "../../gen/groovebox/room/v1/room_pb.js";
import { bearer, grpcTransport, login, TestStream, type Protocol } from "./stream-client.js";

/** A logged-in guest with clients of the public services through one gateway. */
export interface Guest {
  userId: string;
  token: string;
  gateway: string;
  auth: ReturnType<typeof bearer>;
  rooms: Client<typeof RoomService>;
  playback: Client<typeof PlaybackService>;
  /** Opens a Connect stream (gRPC unless told otherwise) and waits for its hello. */
  connect(protocol?: Protocol): Promise<TestStream & { sessionId: string }>;
}

export async function guest(gateway: string, name: string): Promise<Guest> {
  const { token, userId } = await login(gateway, name);
  const transport = grpcTransport(gateway);
  return {
    userId,
    token,
    gateway,
    auth: bearer(token),
    rooms: createClient(RoomService, transport),
    playback: createClient(PlaybackService, transport),
    async connect(protocol: Protocol = "grpc") {
      const stream = TestStream.connect(gateway, token, protocol);
      const hello = await stream.next("hello");
      return Object.assign(stream, { sessionId: hello.message.value.sessionId });
    },
  };
}

let requestCounter = 0;

/** Joins a room on a stream and returns the room_state answer. */
export async function joinOnStream(stream: TestStream, roomCode: string) {
  const answer = await stream.request({ requestId: `join-${++requestCounter}`, message: { case: "joinRoom", value: { roomCode } } });
  if (answer.message.case !== "roomState") throw new Error(`join failed: ${JSON.stringify(answer.message.value)}`);
  return answer.message.value;
}
