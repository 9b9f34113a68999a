import { Code, createClient } from "@connectrpc/connect";
import { AuthService } from "../gen/groovebox/auth/v1/auth_pb.js";
import { RoomService } from "../gen/groovebox/room/v1/room_pb.js";
import { userKeys } from "../services/common/keys.js";
import { eventually } from "./support/eventually.js";
import { failure } from "./support/failure.js";
import { redisServerAvailable, startPrivateRedis, type PrivateRedis } from "./support/redis-server.js";
import { inspectRedis, startStack, type Stack } from "./support/stack.js";
import { bearer, grpcTransport, TestStream } from "./support/stream-client.js";

// The limits count in Redis: this test has a Redis of its own, so other tests' logins (all
// from 127.0.0.1) do not count against its budgets.
const describeWithRedisServer = redisServerAvailable() ? describe : describe.skip;

describeWithRedisServer("limits that hold across gateways", () => {
  let redis: PrivateRedis;
  let stack: Stack;
  const hour = 3600;
  beforeAll(async () => {
    redis = await startPrivateRedis();
    stack = await startStack({
      redis: redis.target,
      gateways: 2,
      gateway: {
        loginRatePerAddress: { points: 3, durationS: hour },
        loginRate: { points: 5, durationS: hour },
        trustedProxies: new Set(["127.0.0.1"]),
        maxStreamsPerUser: 2,
      },
      rooms: { createRoomRate: { points: 2, durationS: hour } },
    });
  });
  afterAll(async () => {
    await stack.stop();
    await redis.destroy();
  });

  const user = async (name: string) => {
    const userId = `u-${name}-${Math.random().toString(36).slice(2, 8)}`;
    return { userId, token: (await stack.tokens.signUser({ userId, displayName: name })).token };
  };

  it("limits logins per client address and for everyone, on every gateway", async () => {
    const [gw0, gw1] = stack.gatewayUrls as [string, string];
    // The gateways sit behind a trusted proxy (127.0.0.1) that names the client's address.
    const loginFrom = (gw: string, address: string) =>
      createClient(AuthService, grpcTransport(gw)).login({ displayName: "Ada" }, { headers: { "x-forwarded-for": address } });
    await loginFrom(gw0, "203.0.113.7");
    await loginFrom(gw1, "203.0.113.7");
    await loginFrom(gw0, "203.0.113.7");
    const perAddress = await failure(loginFrom(gw1, "203.0.113.7"));
    expect(perAddress.code).toBe(Code.ResourceExhausted);
    expect(perAddress.message).toMatch(/^too many logins from this address: at most 3 per 1 h; retry in \d+ s$/);

    await loginFrom(gw1, "203.0.113.8"); // another address has its own budget
    await loginFrom(gw0, "2001:db8::1");
    const everyone = await failure(loginFrom(gw0, "198.51.100.1")); // 5 logins in all: the global bound
    expect(everyone.code).toBe(Code.ResourceExhausted);
    expect(everyone.message).toMatch(/^too many logins right now/);
    // IPv6 clients are counted by their /64: another address of it is the same client.
    expect((await failure(loginFrom(gw1, "2001:db8::2"))).code).toBe(Code.ResourceExhausted);
  });

  it("limits the rooms one user creates, whichever gateway they use", async () => {
    const [ada, bob] = [await user("Ada"), await user("Bob")];
    const rooms = stack.gatewayUrls.map((gw) => createClient(RoomService, grpcTransport(gw)));
    await rooms[0]!.createRoom({}, bearer(ada.token));
    await rooms[1]!.createRoom({}, bearer(ada.token));
    const third = await failure(rooms[0]!.createRoom({}, bearer(ada.token)));
    expect(third.code).toBe(Code.ResourceExhausted);
    expect(third.message).toMatch(/^too many rooms created: at most 2 per 1 h/);
    await rooms[1]!.createRoom({}, bearer(bob.token));
  });

  it("limits one user's open streams across gateways, and frees a place when a stream ends", async () => {
    const [gw0, gw1] = stack.gatewayUrls as [string, string];
    const ada = await user("Ada");
    const first = TestStream.connect(gw0, ada.token);
    await first.next("hello");
    const second = TestStream.connect(gw1, ada.token);
    await second.next("hello");
    for (const gw of [gw0, gw1]) {
      const third = await TestStream.connect(gw, ada.token).ended;
      expect(third?.code).toBe(Code.ResourceExhausted);
      expect(third?.rawMessage).toMatch(/at most 2 streams per user \(across all gateways\)/);
    }
    first.cancel();
    await first.ended;
    const again = await eventually(async () => {
      const s = TestStream.connect(gw1, ada.token);
      const hello = await s.next("hello").catch(() => undefined);
      return hello ? s : undefined;
    }, 5000, "a stream after one ended");
    again.cancel();
    second.cancel();
  });

  it("does not count the streams of a gateway that died: their leases run out", async () => {
    const ada = await user("Ada");
    const look = inspectRedis(redis.target);
    // Two streams of a gateway that stopped renewing them, their leases over a second ago.
    const past = Date.now() - 1000;
    await look.zadd(userKeys.streams(ada.userId), String(past), "dead-1", String(past), "dead-2");
    const streams = [TestStream.connect(stack.gatewayUrls[0]!, ada.token), TestStream.connect(stack.gatewayUrls[1]!, ada.token)];
    for (const s of streams) await s.next("hello");
    expect(await look.zrange(userKeys.streams(ada.userId), "0", "-1")).toHaveLength(2);
    for (const s of streams) s.cancel();
    look.disconnect();
  });
});
