import { Code } from "@connectrpc/connect";
import type { ServerMessage } from "../gen/groovebox/gateway/v1/gateway_pb.js";
import { guest, joinOnStream } from "./support/rooms-client.js";
import { redisServerAvailable, startPrivateRedis, type PrivateRedis } from "./support/redis-server.js";
import { startStack, type Stack } from "./support/stack.js";
import type { TestStream } from "./support/stream-client.js";

// Needs a Redis of its own to stop and start: runs where redis-server is installed.
const describeWithRedisServer = redisServerAvailable() ? describe : describe.skip;

describeWithRedisServer("when Redis goes away", () => {
  let redis: PrivateRedis;
  let stack: Stack;
  beforeAll(async () => {
    redis = await startPrivateRedis({ persist: true });
    stack = await startStack({ redis: redis.target });
  });
  afterAll(async () => {
    await stack.stop();
    await redis.destroy();
  });

  it("answers UNAVAILABLE instead of hanging, keeps answering pings, and recovers by itself", async () => {
    const gw = stack.gatewayUrls[0]!;
    const [ada, bob] = await Promise.all([guest(gw, "Ada"), guest(gw, "Bob")]);
    const room = (await ada.rooms.createRoom({}, ada.auth)).state!;
    await bob.rooms.joinRoom({ roomCode: room.roomCode }, bob.auth);
    const stream = await ada.connect();
    await joinOnStream(stream, room.roomCode);

    await redis.stop();
    // A hang would end as DEADLINE_EXCEEDED after 5 s; the service answers UNAVAILABLE first.
    const opts = { ...ada.auth, timeoutMs: 5000 };
    await expect(ada.rooms.createRoom({}, opts)).rejects.toMatchObject({ code: Code.Unavailable });
    await expect(ada.rooms.getRoomState({ roomId: room.roomId }, opts)).rejects.toMatchObject({ code: Code.Unavailable });
    expect((await fetch(`${stack.operatorUrls.rooms}/healthz`)).status).toBe(503);
    // The clock edge does not touch Redis: pongs keep coming.
    await stream.send({ message: { case: "ping", value: { seq: 1n, clientSendTimeMs: Date.now() } } });
    expect((await stream.next("pong")).message.value.seq).toBe(1n);

    await redis.restart();
    const back = await retryUntilOk(() => ada.rooms.createRoom({}, opts));
    expect(back.state!.roomCode).toHaveLength(6);
    expect((await fetch(`${stack.operatorUrls.rooms}/healthz`)).status).toBe(200);
    // The gateway subscribed to the room again: the stream learns of changes once more, by
    // their event or, for a change made before the subscription was back, by the room's state
    // the gateway reads again then.
    await retryUntilOk(() => ada.rooms.setDj({ roomId: room.roomId, userId: bob.userId }, opts));
    await nextWhere(stream, (m) =>
      (m.message.case === "djChanged" && m.message.value.currentDjId === bob.userId) ||
      (m.message.case === "roomState" && m.message.value.currentDjId === bob.userId),
    );
    stream.cancel();
  });
});

/** The stream's next message that matches (the others are skipped). */
async function nextWhere(stream: TestStream, match: (m: ServerMessage) => boolean): Promise<ServerMessage> {
  for (;;) {
    const m = await stream.nextAny();
    if (match(m)) return m;
  }
}

/** Calls `fn` until it succeeds (the service reconnects on its own schedule). */
async function retryUntilOk<T>(fn: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
