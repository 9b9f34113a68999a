import { randomBytes } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorCode } from "../gen/groovebox/gateway/v1/gateway_pb.js";
import { freePort } from "../scripts/local-redis.js";
import { eventually, WAIT_MS } from "./support/eventually.js";
import { guest, joinOnStream, type Guest } from "./support/rooms-client.js";
import { startServiceProcess, type ServiceProcess } from "./support/service-process.js";
import { startStack, testRedisTarget, type Stack } from "./support/stack.js";
import type { TestStream } from "./support/stream-client.js";

/** The code a call fails with; a call that hangs fails its 5 s deadline (DEADLINE_EXCEEDED). */
async function codeOf(call: Promise<unknown>): Promise<Code | "OK"> {
  try {
    await call;
    return "OK";
  } catch (err) {
    return ConnectError.from(err).code;
  }
}

/**
 * kill -9 of the rooms and the playback processes while streams run: the gateway and its
 * streams stay up, callers are told UNAVAILABLE at once (not when their deadline passes),
 * nothing acknowledged before the crash is lost (it is in Redis), and everything works again
 * once the process is back. rooms and playback are real child processes; the gateway and the
 * clock service run in the test.
 */
describe("chaos: a service process killed with SIGKILL", () => {
  const secret = randomBytes(32).toString("hex");
  let stack: Stack;
  let rooms: ServiceProcess;
  let playback: ServiceProcess;
  let ada: Guest;
  let bob: Guest;
  let roomId: string;
  let streams: { ada: TestStream; bob: TestStream };
  const deadline = (g: Guest) => ({ ...g.auth, timeoutMs: 5000 });

  beforeAll(async () => {
    const [roomsPort, playbackPort] = [await freePort(), await freePort()];
    stack = await startStack({
      jwtSecret: secret,
      gatewayPeers: { roomsUrl: `http://127.0.0.1:${roomsPort}`, playbackUrl: `http://127.0.0.1:${playbackPort}` },
    });
    const redis = testRedisTarget();
    const env = {
      JWT_SECRET: secret,
      REDIS_URL: redis.url,
      REDIS_CLUSTER_NODES: redis.clusterNodes.map(({ host, port }) => `${host}:${port}`).join(","),
    };
    rooms = await startServiceProcess("rooms", { portVar: "ROOMS_PORT", operatorPortVar: "ROOMS_OPERATOR_PORT", port: roomsPort }, env);
    playback = await startServiceProcess("playback", { portVar: "PLAYBACK_PORT", operatorPortVar: "PLAYBACK_OPERATOR_PORT", port: playbackPort }, env);
    const gw = stack.gatewayUrls[0]!;
    [ada, bob] = await Promise.all([guest(gw, "Ada"), guest(gw, "Bob")]);
    const room = (await ada.rooms.createRoom({}, ada.auth)).state!;
    roomId = room.roomId;
    streams = { ada: await ada.connect(), bob: await bob.connect() };
    await joinOnStream(streams.ada, room.roomCode);
    await joinOnStream(streams.bob, room.roomCode);
  }, 60_000);

  afterAll(async () => {
    streams?.ada.cancel();
    streams?.bob.cancel();
    await stack?.stop();
    await Promise.all([rooms?.stop(), playback?.stop()]);
  });

  /** A stream still answers pings (the clock edge never needs another service). */
  async function pingOk(stream: TestStream, seq: bigint) {
    await stream.send({ message: { case: "ping", value: { seq, clientSendTimeMs: Date.now() } } });
    expect((await stream.next("pong")).message.value.seq).toBe(seq);
  }

  it("rooms: callers get UNAVAILABLE fast, streams go on, and the room is intact after the restart", async () => {
    // Acknowledged before the crash: Bob is DJ.
    await ada.rooms.setDj({ roomId, userId: bob.userId }, ada.auth);
    for (const stream of Object.values(streams)) expect((await stream.next("djChanged")).message.value.currentDjId).toBe(bob.userId);

    await rooms.kill();
    expect(await codeOf(ada.rooms.getRoomState({ roomId }, deadline(ada)))).toBe(Code.Unavailable);
    expect(await codeOf(ada.rooms.createRoom({}, deadline(ada)))).toBe(Code.Unavailable);
    const onStream = await streams.ada.request({ requestId: "state-while-down", message: { case: "getRoomState", value: {} } });
    expect(onStream.message).toMatchObject({ case: "error", value: { code: ErrorCode.UNAVAILABLE } });
    await pingOk(streams.ada, 1n);

    await rooms.restart();
    const state = await eventually(async () => (await ada.rooms.getRoomState({ roomId }, deadline(ada))).state, WAIT_MS, "rooms answering again");
    expect(state.currentDjId).toBe(bob.userId);
    expect(state.members.map((m) => m.userId).sort()).toEqual([ada.userId, bob.userId].sort());
    // Changes flow to the streams again.
    await bob.rooms.setDj({ roomId, userId: ada.userId }, bob.auth);
    expect((await streams.bob.next("djChanged")).message.value.currentDjId).toBe(ada.userId);
  }, 60_000);

  it("playback: callers get UNAVAILABLE fast, and the acknowledged timeline is there after the restart", async () => {
    const started = await ada.playback.start({ roomId, trackId: "song-42", positionMs: 30_000 }, ada.auth);
    expect((await streams.bob.next("playbackStarted")).message.value.version).toBe(started.version);

    await playback.kill();
    expect(await codeOf(ada.playback.pause({ roomId }, deadline(ada)))).toBe(Code.Unavailable);
    expect(await codeOf(bob.playback.getPlayback({ roomId }, deadline(bob)))).toBe(Code.Unavailable);
    const onStream = await streams.ada.request({
      requestId: "pause-while-down",
      message: { case: "playbackCommand", value: { command: { case: "pause", value: {} } } },
    });
    expect(onStream.message).toMatchObject({ case: "error", value: { code: ErrorCode.UNAVAILABLE } });
    await pingOk(streams.bob, 2n);

    await playback.restart();
    const state = await eventually(async () => (await bob.playback.getPlayback({ roomId }, deadline(bob))).state, WAIT_MS, "playback answering again");
    expect(state).toMatchObject({ trackId: "song-42", playing: true, version: started.version });
    const paused = await ada.playback.pause({ roomId }, ada.auth);
    expect(paused.state!.version).toBe(started.version + 1n);
    expect((await streams.bob.next("playbackChanged")).message.value.state!.playing).toBe(false);
  }, 60_000);
});
