import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { AuthService } from "../../gen/groovebox/auth/v1/auth_pb.js";
import { PlaybackService } from "../../gen/groovebox/playback/v1/playback_pb.js";
import { RoomService } from "../../gen/groovebox/room/v1/room_pb.js";

/** The public services as the CLI calls them: unary gRPC calls over one HTTP/2 connection. */
export interface Api {
  auth: Client<typeof AuthService>;
  rooms: Client<typeof RoomService>;
  playback: Client<typeof PlaybackService>;
  close(): void;
}

/** Clients of the gateway at `server`; calls fail after `timeoutMs`. */
export function createApi(server: string, timeoutMs = 5000): Api {
  const sessionManager = new Http2SessionManager(server);
  const transport = createGrpcTransport({ baseUrl: server, sessionManager, defaultTimeoutMs: timeoutMs });
  return {
    auth: createClient(AuthService, transport),
    rooms: createClient(RoomService, transport),
    playback: createClient(PlaybackService, transport),
    close: () => sessionManager.abort(),
  };
}
