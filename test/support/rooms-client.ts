import { createClient, type Client } from "@connectrpc/connect";
import { PlaybackService } from "../../gen/groovebox/playback/v1/playback_pb.js";
import { RoomService } from "../../gen/groovebox/room/v1/room_pb.js";
import { DISPLAY_NAME_MAX } from "../../services/rooms/auth-service.js";
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

/**
 * Makes room events until `done()` says enough: `users` guests join the room and leave it over
 * and over, side by side (each join and each leave is an event for every stream in the room).
 * Tests of streams that stop reading need hundreds of events; one call after the other takes
 * a minute on a loaded machine, concurrent members a fraction of it. Resolves with the number
 * of events made; fails after `maxEvents`.
 */
export async function churnMembers(
  gateway: string,
  room: { roomId: string; roomCode: string },
  done: () => boolean,
  { users = 8, maxEvents = 4000 } = {},
): Promise<number> {
  // The longest names make the largest events, so fewer of them fill a stream's buffers.
  const members = await Promise.all(Array.from({ length: users }, (_, i) => guest(gateway, `Churn ${i} `.padEnd(DISPLAY_NAME_MAX, "~"))));
  let events = 0;
  await Promise.all(
    members.map(async (member) => {
      while (!done() && events < maxEvents) {
        await member.rooms.joinRoom({ roomCode: room.roomCode }, member.auth);
        events++;
        if (done()) break;
        await member.rooms.leaveRoom({ roomId: room.roomId }, member.auth);
        events++;
      }
    }),
  );
  if (!done()) throw new Error(`still not done after ${events} room events`);
  return events;
}
