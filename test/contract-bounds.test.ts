import { Code, createClient } from "@connectrpc/connect";
import { AuthService } from "../gen/groovebox/auth/v1/auth_pb.js";
import { ClockService } from "../gen/groovebox/clock/v1/clock_pb.js";
import { ErrorCode } from "../gen/groovebox/gateway/v1/gateway_pb.js";
import { PlaybackService } from "../gen/groovebox/playback/v1/playback_pb.js";
import { RoomService } from "../gen/groovebox/room/v1/room_pb.js";
import { guest, joinOnStream, type Guest } from "./support/rooms-client.js";
import { failure } from "./support/failure.js";
import { startStack, type Stack } from "./support/stack.js";
import { bearer, transportFor, type Protocol } from "./support/stream-client.js";

describe("bounds of numbers and text in the contracts", () => {
  let stack: Stack;
  let gw: string;
  let dj: Guest;
  let roomId: string;
  let roomCode: string;
  beforeAll(async () => {
    stack = await startStack();
    gw = stack.gatewayUrls[0]!;
    dj = await guest(gw, "Ada");
    ({ roomId, roomCode } = (await dj.rooms.createRoom({}, dj.auth)).state!);
  });
  afterAll(() => stack.stop());

  const huge = [1e308, -1, 86_400_001, NaN, Infinity];

  describe.each<Protocol>(["grpc", "connect", "grpc-web"])("unary calls over %s", (protocol) => {
    it("refuse positions and durations outside 0..24 h, naming the field, and change nothing", async () => {
      const playback = createClient(PlaybackService, transportFor(protocol, gw));
      const before = (await playback.getPlayback({ roomId }, dj.auth)).state!;
      for (const value of huge) {
        for (const [call, field] of [
          [playback.start({ roomId, trackId: "t", positionMs: value }, dj.auth), "position_ms"],
          [playback.start({ roomId, trackId: "t", trackDurationMs: value }, dj.auth), "track_duration_ms"],
          [playback.seek({ roomId, positionMs: value }, dj.auth), "position_ms"],
        ] as const) {
          const { code, message } = await failure(call);
          expect({ value, code }).toEqual({ value, code: Code.InvalidArgument });
          expect(message).toContain(field);
        }
      }
      expect((await playback.getPlayback({ roomId }, dj.auth)).state).toMatchObject({ version: before.version });
    });

    it("refuse names with direction overrides, invisible characters, or nothing visible", async () => {
      const transport = transportFor(protocol, gw);
      const auth = createClient(AuthService, transport);
      const rooms = createClient(RoomService, transport);
      for (const displayName of ["Ada\u202Egnp.exe", "A\u200Bda", "\u2066Bob", "\u3164"]) {
        const { code, message } = await failure(auth.login({ displayName }));
        expect({ displayName, code }).toEqual({ displayName, code: Code.InvalidArgument });
        expect(message).toMatch(/^display_name must not contain invisible/);
      }
      for (const name of ["   ", "Friday\u202E", "\u200B"]) {
        const { code, message } = await failure(rooms.createRoom({ name }, dj.auth));
        expect({ name, code }).toEqual({ name, code: Code.InvalidArgument });
        expect(message).toMatch(/^name must/);
      }
      expect((await auth.login({ displayName: "👩‍🚀 Ada" })).displayName).toBe("👩‍🚀 Ada");
      expect((await rooms.createRoom({ name: "" }, dj.auth)).state!.name).toBe("");
    });

    it("refuse client clock times outside a Date's range", async () => {
      const clock = createClient(ClockService, transportFor(protocol, gw));
      for (const clientSendTimeMs of [1e308, -1, NaN]) {
        expect((await failure(clock.ping({ clientSendTimeMs }))).code).toBe(Code.InvalidArgument);
      }
      expect((await clock.ping({ clientSendTimeMs: 1_764_000_000_000 })).clientSendTimeMs).toBe(1_764_000_000_000);
    });
  });

  it("refuses the same positions on the stream, answering the request with an error naming the field", async () => {
    const stream = await dj.connect();
    await joinOnStream(stream, roomCode);
    const before = (await dj.playback.getPlayback({ roomId }, dj.auth)).state!;
    let n = 0;
    for (const value of huge) {
      for (const command of [
        { case: "start" as const, value: { trackId: "t", positionMs: value } },
        { case: "start" as const, value: { trackId: "t", trackDurationMs: value } },
        { case: "seek" as const, value: { positionMs: value } },
      ]) {
        const answer = await stream.request({ requestId: `bad-${++n}`, message: { case: "playbackCommand", value: { command } } });
        expect(answer.message).toMatchObject({ case: "error", value: { code: ErrorCode.INVALID_ARGUMENT } });
        expect(answer.message.case === "error" && answer.message.value.message).toMatch(/position_ms|track_duration_ms/);
      }
    }
    const ping = await stream.request({ requestId: "ping", message: { case: "ping", value: { seq: 1n, clientSendTimeMs: 1e308 } } });
    expect(ping.message).toMatchObject({ case: "error", value: { code: ErrorCode.INVALID_ARGUMENT, pingSeq: 1n } });
    expect((await dj.playback.getPlayback({ roomId }, bearer(dj.token))).state).toMatchObject({ version: before.version });
    stream.cancel();
  });
});
