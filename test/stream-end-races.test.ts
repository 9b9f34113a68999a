import * as http2 from "node:http2";
import * as net from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createWritableIterable } from "@connectrpc/connect/protocol";
import { GatewayService, SubscribeRequestSchema } from "../gen/groovebox/gateway/v1/gateway_pb.js";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { GuardedSessionManager } from "../clients/sdk/guarded-session-manager.js";
import { eventually } from "./support/eventually.js";
import { captureLogs } from "./support/log-capture.js";
import { churnMembers, guest, type Guest } from "./support/rooms-client.js";
import { startStack, type Stack } from "./support/stack.js";
import type { ClientMessageInit } from "./support/stream-client.js";

/**
 * A stream's end racing the writes still on their way, on both sides: the server writing events
 * to a stream its client has just reset, or whose connection has just died, and the client
 * writing to a stream the server has just ended (with a status, a reset for not reading, or
 * on shutdown). Each race is started by an event (a message's arrival, a write left waiting
 * by flow control), never by a delay. The server must log no error and count the end as the
 * client's (CANCELLED); the client must get the status the server sent.
 */

const CONTENT_TYPES = { grpc: "application/grpc+proto", connect: "application/connect+proto", "grpc-web": "application/grpc-web+proto" };

/** The gateway's count of streams ended for `reason` (gateway_streams_ended_total). */
async function streamsEnded(operatorUrl: string, reason: string): Promise<number> {
  const page = await (await fetch(`${operatorUrl}/metrics`)).text();
  const line = page.split("\n").find((l) => l.startsWith(`gateway_streams_ended_total{reason="${reason}"}`));
  return line ? Number(line.split(" ")[1]) : 0;
}

/**
 * A Subscribe over raw HTTP/2 that cuts its call the moment its `cutAt`-th message arrives
 * (hello, the room's state, then events): it resets the stream (CANCEL), closes it (a reset
 * with NO_ERROR, which connect-node reports to the handler as a bare abort, as it does an HTTP/1.1
 * connection that closes), or destroys the connection.
 */
function subscribeAndCut(baseUrl: string, token: string, roomId: string, contentType: string, how: "reset" | "close" | "drop", cutAt: number) {
  const session = http2.connect(baseUrl);
  session.on("error", () => undefined);
  const body = toBinary(SubscribeRequestSchema, create(SubscribeRequestSchema, { roomId }));
  const envelope = Buffer.alloc(5 + body.length);
  envelope.writeUInt32BE(body.length, 1);
  envelope.set(body, 5);
  const stream = session.request({ ":method": "POST", ":path": "/groovebox.gateway.v1.GatewayService/Subscribe", "content-type": contentType, te: "trailers", authorization: `Bearer ${token}` });
  stream.on("error", () => undefined);
  stream.end(envelope);
  let pending = Buffer.alloc(0);
  let messages = 0;
  let cut!: () => void;
  const wasCut = new Promise<void>((resolve) => (cut = resolve));
  stream.on("data", (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
      pending = pending.subarray(5 + pending.readUInt32BE(1));
      if (++messages !== cutAt) continue;
      if (how === "reset") stream.close(http2.constants.NGHTTP2_CANCEL);
      else if (how === "close") stream.close(http2.constants.NGHTTP2_NO_ERROR);
      else session.destroy();
      cut();
    }
  });
  return { wasCut, close: () => session.destroy() };
}

/** The outcome of a call as the client reports it: its code and message. */
async function outcome(responses: AsyncIterator<unknown>): Promise<{ code: string; message: string }> {
  try {
    while (!(await responses.next()).done);
    return { code: "OK", message: "" };
  } catch (err) {
    const e = ConnectError.from(err);
    return { code: Code[e.code], message: e.rawMessage };
  }
}

/** Opens GatewayService/Connect on `transport` and waits for hello; `input` feeds the client's messages. */
async function openConnect(transport: Transport, token: string) {
  const input = createWritableIterable<ClientMessageInit>();
  const responses = createClient(GatewayService, transport).connect(input, { headers: { authorization: `Bearer ${token}` } })[Symbol.asyncIterator]();
  await responses.next(); // hello
  return { input, responses };
}

describe.each([
  ["gRPC, the gateway's own path", "grpc", true],
  ["gRPC through connect-es", "grpc", false],
  ["Connect", "connect", true],
  ["gRPC-Web", "grpc-web", true],
] as const)("%s: a stream the client cuts while the gateway writes to it", (_name, protocol, grpcFastPath) => {
  const logs = captureLogs();
  let stack: Stack;
  let gw: string;
  let ops: string;
  beforeAll(async () => {
    stack = await startStack({ gateway: { grpcFastPath }, logger: logs.logger });
    gw = stack.gatewayUrls[0]!;
    ops = stack.operatorUrls.gateways[0]!;
  });
  afterAll(() => stack.stop());

  it.each(["reset", "close", "drop"] as const)("ends CANCELLED with no error logged when the client's %s comes as an event arrives", async (how) => {
    const [ada, bob] = await Promise.all([guest(gw, "Ada"), guest(gw, "Bob")]);
    const room = (await ada.rooms.createRoom({}, ada.auth)).state!;
    await bob.rooms.joinRoom({ roomCode: room.roomCode }, bob.auth);
    const cancelledBefore = await streamsEnded(ops, "Canceled");
    // Cut at the first event (after hello and the room's state); members keep coming and going,
    // so the gateway has more events to write to the stream as the cut reaches it, until it has
    // let the stream go.
    const call = subscribeAndCut(gw, bob.token, room.roomId, CONTENT_TYPES[protocol], how, 3);
    let released = false;
    const ended = call.wasCut
      .then(() => eventually(async () => ((await streamsEnded(ops, "Canceled")) > cancelledBefore ? true : undefined), undefined, "the stream's end"))
      .finally(() => (released = true));
    await churnMembers(gw, room, () => released);
    await ended;
    call.close();
    expect(logs.lines.filter((l) => (l.level as number) >= 40)).toEqual([]);
    expect(await streamsEnded(ops, "Internal")).toBe(0);
    expect(await streamsEnded(ops, "Unknown")).toBe(0);
  });
});

/**
 * A gRPC transport over connect-node's HTTP/2 client that shows the test each stream it opens:
 * through the SDK's session manager (what nodeTransport uses), or connect-node's own.
 */
function watchedTransport(baseUrl: string, sdk: boolean, nodeOptions?: http2.SessionOptions) {
  const opened: http2.ClientHttp2Stream[] = [];
  const Base = sdk ? GuardedSessionManager : Http2SessionManager;
  const sessionManager = new (class extends Base {
    override async request(...args: Parameters<Http2SessionManager["request"]>) {
      const stream = await super.request(...args);
      opened.push(stream);
      return stream;
    }
  })(baseUrl, undefined, nodeOptions);
  return { transport: createGrpcTransport({ baseUrl, sessionManager }), opened, close: () => sessionManager.abort() };
}

describe.each([
  ["the gateway's own gRPC path", true],
  ["connect-es", false],
])("a Node client, as %s ends its stream", (_name, grpcFastPath) => {
  let stack: Stack;
  let gw: string;
  beforeAll(async () => {
    stack = await startStack({ gateway: { grpcFastPath, outboundCapacity: 8 } });
    gw = stack.gatewayUrls[0]!;
  });
  afterAll(() => stack.stop());

  it.each([
    ["connect-node's own session manager", false],
    ["the SDK's", true],
  ])("reads the status of a stream ended while a write waited for flow control (%s)", async (_how, sdk) => {
    const ada = await guest(gw, "Ada");
    const watched = watchedTransport(gw, sdk);
    const { input, responses } = await openConnect(watched.transport, ada.token);
    // A message over the limit (64 KiB) is more than HTTP/2's first window: its write waits
    // for room the gateway never gives, since it stops reading the failed stream; the writes
    // behind it wait too. The gateway ends the call (trailers, then RST_STREAM NO_ERROR) with
    // them pending: connect-node ends the writable side first, so they fail as writes after
    // end, which it does not take for the call's outcome.
    const big = "x".repeat(70_000);
    for (let i = 0; i < 3; i++) void input.write({ requestId: big, message: { case: "leaveRoom", value: {} } }).catch(() => undefined);
    expect(await outcome(responses)).toEqual({ code: "ResourceExhausted", message: "message of 70006 bytes is over the limit of 65536" });
    watched.close();
  });

  it("reports RESOURCE_EXHAUSTED for a stream reset for not reading (connect-node alone: INTERNAL)", async () => {
    const [ada, bob, cat] = await Promise.all([guest(gw, "Ada"), guest(gw, "Bob"), guest(gw, "Cat")]);
    const room = (await ada.rooms.createRoom({}, ada.auth)).state!;
    /** A member's stream in the room that reads nothing after the join's answer; resolves once the gateway has reset it. */
    const stalled = async (member: Guest, sdk: boolean) => {
      // A small window: fewer events fill what the client takes without reading.
      const watched = watchedTransport(gw, sdk, { settings: { initialWindowSize: 1024 } });
      const { input, responses } = await openConnect(watched.transport, member.token);
      void input.write({ requestId: "join", message: { case: "joinRoom", value: { roomCode: room.roomCode } } });
      await responses.next(); // the room's state
      const stream = watched.opened[0]!;
      let reset = false;
      const closed = new Promise<number | undefined>((resolve) => stream.once("close", () => resolve(stream.rstCode))).finally(() => (reset = true));
      return { responses, closed, reset: () => reset, close: watched.close };
    };
    const sdk = await stalled(bob, true);
    const plain = await stalled(cat, false);
    // Events until the gateway has reset both streams; only then do the clients read.
    await churnMembers(gw, room, () => sdk.reset() && plain.reset());
    expect(await sdk.closed).toBe(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    expect(await plain.closed).toBe(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    expect((await outcome(sdk.responses)).code).toBe("ResourceExhausted");
    // What the SDK's transport corrects: connect-node takes the reset's stream error as INTERNAL.
    expect((await outcome(plain.responses)).code).toBe("Internal");
    sdk.close();
    plain.close();
  });
});

/**
 * A TCP proxy to `target` that can hold back from now on everything the client sends: the
 * client's writes then wait for flow control, as on a congested uplink.
 */
async function startHoldingProxy(target: string) {
  const to = new URL(target);
  const sockets: net.Socket[] = [];
  let holding = false;
  let held = 0;
  let waiter: { bytes: number; resolve: () => void } | undefined;
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(to.port), to.hostname);
    for (const socket of [client, upstream]) {
      socket.on("error", () => undefined);
      sockets.push(socket);
    }
    client.on("data", (data: Buffer) => {
      if (!holding) return void upstream.write(data);
      held += data.length;
      if (waiter && held >= waiter.bytes) waiter.resolve();
    });
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    /** Holds back what the client sends from now on; resolves once `bytes` of it are held. */
    hold: (bytes: number) => {
      holding = true;
      return new Promise<void>((resolve) => (waiter = { bytes, resolve }));
    },
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe.each([
  ["the gateway's own gRPC path", true],
  ["connect-es", false],
])("a Node client whose writes wait as the gateway shuts down (%s)", (_name, grpcFastPath) => {
  it.each([
    ["connect-node's own session manager", false],
    ["the SDK's", true],
  ])("gets UNAVAILABLE with the gateway's message (%s)", async (_how, sdk) => {
    const stack = await startStack({ gateway: { grpcFastPath } });
    const proxy = await startHoldingProxy(stack.gatewayUrls[0]!);
    try {
      const ada = await guest(stack.gatewayUrls[0]!, "Ada");
      const watched = watchedTransport(proxy.url, sdk);
      const { input, responses } = await openConnect(watched.transport, ada.token);
      // Requests beyond the stream's window (64 KiB): once the window's worth is held, the
      // client's next writes wait for room the gateway never gives.
      const held = proxy.hold(65_535);
      const request = { requestId: "y".repeat(30_000), message: { case: "getRoomState" as const, value: {} } };
      for (let i = 0; i < 4; i++) void input.write(request).catch(() => undefined);
      await held;
      const stopped = stack.stop();
      expect(await outcome(responses)).toEqual({ code: "Unavailable", message: "server is shutting down" });
      await stopped;
      watched.close();
    } finally {
      await proxy.close();
      await stack.stop();
    }
  });
});
