import * as http2 from "node:http2";
import { createClient, Code, ConnectError } from "@connectrpc/connect";
import { ClockSampleService, ClockService } from "../gen/groovebox/clock/v1/clock_pb.js";
import { ErrorCode } from "../gen/groovebox/gateway/v1/gateway_pb.js";
import { sessionKeys } from "../services/common/keys.js";
import { eventually } from "./support/eventually.js";
import { inspectRedis, startStack, type Stack } from "./support/stack.js";
import { bearer, grpcTransport, login, TestStream } from "./support/stream-client.js";

describe("clock sync over the gateway", () => {
  let stack: Stack;
  let gateway: string;
  const redis = inspectRedis();

  beforeAll(async () => {
    stack = await startStack();
    gateway = stack.gatewayUrls[0]!;
  });
  afterAll(async () => {
    await stack.stop();
    redis.disconnect();
  });

  /** Pings once, reports the previous pong, and returns the pong with its receive time. */
  /** The client's clock: sub-millisecond, like performance.now() in browsers. */
  const clientNow = () => performance.timeOrigin + performance.now();

  async function ping(stream: TestStream, seq: number, prev?: { seq: number; t3: number }) {
    const t0 = clientNow();
    await stream.send({
      message: {
        case: "ping",
        value: {
          seq: BigInt(seq),
          clientSendTimeMs: t0,
          prev: prev && { seq: BigInt(prev.seq), clientReceiveTimeMs: prev.t3 },
        },
      },
    });
    const pong = await stream.next("pong");
    return { pong: pong.message.value, t0, t3: clientNow() };
  }

  it("answers unary pings with ordered stamps on the public port and on every service's own", async () => {
    for (const url of [gateway, stack.clockUrl, stack.roomsUrl, stack.playbackUrl]) {
      const client = createClient(ClockService, grpcTransport(url));
      const t0 = Date.now();
      const res = await client.ping({ clientSendTimeMs: t0 }); // no credentials needed
      const t3 = Date.now();
      expect(res.clientSendTimeMs).toBe(t0);
      expect(res.serverReceiveTimeMs).toBeLessThanOrEqual(res.serverSendTimeMs);
      // Same machine, same clock: the server's stamps fall inside the client's round trip.
      expect(res.serverReceiveTimeMs).toBeGreaterThanOrEqual(t0 - 5);
      expect(res.serverSendTimeMs).toBeLessThanOrEqual(t3 + 5);
      await expect(client.ping({ clientSendTimeMs: NaN })).rejects.toMatchObject({ code: Code.InvalidArgument });
    }
  });

  it("answers stream pings with ordered, sane timestamps", async () => {
    const { token, userId } = await login(gateway, "Pinger");
    const stream = TestStream.connect(gateway, token);
    const hello = (await stream.next("hello")).message.value;
    expect(hello.userId).toBe(userId);
    expect(hello.sessionId).toMatch(/^[\w-]+$/);
    expect(hello.maxPingsPerSecond).toBeGreaterThan(0);

    const { pong, t0, t3 } = await ping(stream, 1);
    expect(pong.seq).toBe(1n);
    expect(pong.clientSendTimeMs).toBe(t0);
    expect(pong.serverReceiveTimeMs).toBeLessThanOrEqual(pong.serverSendTimeMs);
    expect(pong.serverReceiveTimeMs).toBeGreaterThanOrEqual(t0 - 5);
    expect(pong.serverSendTimeMs).toBeLessThanOrEqual(t3 + 5);
    stream.end();
    expect(await stream.ended).toBeUndefined();
  });

  it("records complete samples under the seed keys and updates them with more pings", async () => {
    const { token } = await login(gateway, "Sampler");
    const stream = TestStream.connect(gateway, token);
    const sessionId = (await stream.next("hello")).message.value.sessionId;

    let prev: { seq: number; t3: number } | undefined;
    let longestRtt = 0;
    for (let seq = 1; seq <= 3; seq++) {
      const r = await ping(stream, seq, prev);
      prev = { seq, t3: r.t3 };
      if (seq < 3) longestRtt = Math.max(longestRtt, r.t3 - r.t0 - (r.pong.serverSendTimeMs - r.pong.serverReceiveTimeMs));
    }
    // Two complete samples were reported (pings 2 and 3 carried the previous pong).
    const count = await eventually(async () => {
      const n = Number(await redis.hget(sessionKeys.clockEstimate(sessionId), "sampleCount"));
      return n >= 2 ? n : undefined;
    });
    expect(count).toBe(2);
    const offset = Number(await redis.get(sessionKeys.clockOffset(sessionId)));
    const rtt = Number(await redis.get(sessionKeys.lastRtt(sessionId)));
    // The two reported samples are pings 1 and 2. One machine: a sample's offset is its path
    // asymmetry, at most half its round trip however slow a loaded machine makes them, plus
    // what the gateway's clock and this process's performance clock differ by (well under 2 ms).
    expect(rtt).toBeGreaterThanOrEqual(0);
    expect(rtt).toBeLessThanOrEqual(longestRtt + 0.001);
    expect(Math.abs(offset)).toBeLessThanOrEqual(longestRtt / 2 + 2);
    expect(await redis.pttl(sessionKeys.clockOffset(sessionId))).toBeGreaterThan(0);

    await ping(stream, 4, prev);
    await eventually(async () =>
      Number(await redis.hget(sessionKeys.clockEstimate(sessionId), "sampleCount")) === 3 ? true : undefined,
    );
    stream.end();
    await stream.ended;
  });

  it("keeps a stream's state out of Redis once it closes mid-ping", async () => {
    const { token } = await login(gateway, "Leaver");
    const stream = TestStream.connect(gateway, token);
    const sessionId = (await stream.next("hello")).message.value.sessionId;
    const first = await ping(stream, 1);
    await ping(stream, 2, { seq: 1, t3: first.t3 });
    // A sample is on its way and another ping is in flight when the client goes away.
    await stream.send({ message: { case: "ping", value: { seq: 3n, clientSendTimeMs: Date.now(), prev: { seq: 2n, clientReceiveTimeMs: Date.now() } } } });
    stream.cancel();
    await stream.ended;

    // A later stream's sample reaches Redis only after everything queued before it.
    const { token: t2 } = await login(gateway, "After");
    const later = TestStream.connect(gateway, t2);
    const laterId = (await later.next("hello")).message.value.sessionId;
    const r = await ping(later, 1);
    await ping(later, 2, { seq: 1, t3: r.t3 });
    await eventually(async () => ((await redis.exists(sessionKeys.clockEstimate(laterId))) ? true : undefined));

    const leftovers = await Promise.all(
      [sessionKeys.clockOffset, sessionKeys.lastRtt, sessionKeys.clockSamples, sessionKeys.clockEstimate].map((k) =>
        redis.exists(k(sessionId)),
      ),
    );
    expect(leftovers).toEqual([0, 0, 0, 0]);
    later.cancel();
  });

  it("refuses streams without a valid token", async () => {
    const noToken = TestStream.connect(gateway, "");
    expect((await noToken.ended)?.code).toBe(Code.Unauthenticated);
    const forged = TestStream.connect(gateway, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl");
    expect((await forged.ended)?.code).toBe(Code.Unauthenticated);
    const service = await stack.tokens.signService("gateway");
    const wrongKind = TestStream.connect(gateway, service.token);
    expect((await wrongKind.ended)?.code).toBe(Code.PermissionDenied);
  });

  it("keeps the internal sample service for services only", async () => {
    const { token } = await login(gateway, "Curious");
    const client = createClient(ClockSampleService, grpcTransport(stack.clockUrl));
    await expect(client.getSessionEstimate({ sessionId: "s1" })).rejects.toMatchObject({ code: Code.Unauthenticated });
    await expect(client.getSessionEstimate({ sessionId: "s1" }, bearer(token))).rejects.toMatchObject({ code: Code.PermissionDenied });
  });

  it("answers malformed messages with INVALID_ARGUMENT and goes on", async () => {
    const { token } = await login(gateway, "Sloppy");
    const stream = TestStream.connect(gateway, token);
    await stream.next("hello");
    const empty = await stream.request({ requestId: "r-empty" });
    expect(empty.message).toMatchObject({ case: "error", value: { code: ErrorCode.INVALID_ARGUMENT } });
    await stream.send({ requestId: "r-nan", message: { case: "ping", value: { seq: 9n, clientSendTimeMs: NaN } } });
    const nan = await stream.next("error");
    expect(nan.requestId).toBe("r-nan");
    expect(nan.message.value).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT, pingSeq: 9n });
    await stream.send({ requestId: "x".repeat(65), message: { case: "leaveRoom", value: {} } });
    const longId = await stream.next("error"); // answered without echoing the oversized id...
    expect(longId.requestId).toBe("");
    expect(longId.message.value.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect((await ping(stream, 10)).pong.seq).toBe(10n); // ...and the stream still works
    stream.end();
    expect(await stream.ended).toBeUndefined();
  });

  it("ends a stream whose message cannot be decoded with INVALID_ARGUMENT", async () => {
    const { token } = await login(gateway, "Garbler");
    // A gRPC frame (flag 0, length 3) holding bytes that are not a ClientMessage.
    const status = await rawGrpcCall(gateway, "/groovebox.gateway.v1.GatewayService/Connect", token, Buffer.from([0, 0, 0, 0, 3, 0xff, 0xff, 0xff]));
    expect(status).toBe(String(Code.InvalidArgument));
  });

  it("ends a stream whose message is over the size limit with RESOURCE_EXHAUSTED", async () => {
    const { token } = await login(gateway, "Bulky");
    const stream = TestStream.connect(gateway, token);
    await stream.next("hello");
    // The send may already fail: the server ends the call as soon as it sees the frame's length.
    await stream.send({ requestId: "big", message: { case: "joinRoom", value: { roomCode: "x".repeat(70 * 1024) } } }).catch(() => undefined);
    const err = await stream.ended;
    expect(err).toBeInstanceOf(ConnectError);
    expect(err?.code).toBe(Code.ResourceExhausted);
  });
});

describe("ping rate limit", () => {
  let stack: Stack;
  beforeAll(async () => {
    // 3 at once, then one per 10 s: the test never waits long enough for a refill.
    stack = await startStack({ gateway: { maxPingsPerSecond: 0.1, pingBurst: 3, maxPingViolations: 10 } });
  });
  afterAll(() => stack.stop());

  it("refuses pings beyond the rate, then ends a stream that keeps on", async () => {
    const gateway = stack.gatewayUrls[0]!;
    const { token } = await login(gateway, "Flooder");
    const stream = TestStream.connect(gateway, token);
    await stream.next("hello");
    const sendPing = (seq: number) =>
      stream.send({ message: { case: "ping", value: { seq: BigInt(seq), clientSendTimeMs: Date.now() } } });
    for (let seq = 1; seq <= 5; seq++) await sendPing(seq);
    for (let seq = 1; seq <= 3; seq++) expect((await stream.next("pong")).message.value.seq).toBe(BigInt(seq));
    for (let seq = 4; seq <= 5; seq++) {
      expect((await stream.next("error")).message.value).toMatchObject({ code: ErrorCode.RESOURCE_EXHAUSTED, pingSeq: BigInt(seq) });
    }
    for (let seq = 6; seq <= 20; seq++) await sendPing(seq).catch(() => undefined);
    expect((await stream.ended)?.code).toBe(Code.ResourceExhausted);
  });
});

/** Sends raw bytes as a gRPC request body and resolves with the grpc-status it ends with. */
function rawGrpcCall(baseUrl: string, path: string, token: string, body: Buffer): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(baseUrl);
    session.once("error", reject);
    const req = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc+proto",
      te: "trailers",
      authorization: `Bearer ${token}`,
    });
    let status: string | undefined;
    req.on("response", (headers) => (status ??= headers["grpc-status"] as string | undefined));
    req.on("trailers", (trailers) => (status = trailers["grpc-status"] as string | undefined));
    req.on("data", () => undefined);
    req.on("close", () => {
      session.close();
      resolve(status);
    });
    req.end(body);
  });
}
