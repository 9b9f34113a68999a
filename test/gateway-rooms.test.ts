import { createServer, type Http2Server } from "node:http2";
import type { AddressInfo } from "node:net";
import { create, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { Registry } from "prom-client";
import { ClockSampleService } from "../gen/groovebox/clock/v1/clock_pb.js";
import { PlaybackService } from "../gen/groovebox/playback/v1/playback_pb.js";
import {
  PresenceService,
  RoomEventSchema,
  RoomService,
  RoomStateSchema,
  type RoomState,
} from "../gen/groovebox/room/v1/room_pb.js";
import type { ServerMessage } from "../gen/groovebox/gateway/v1/gateway_pb.js";
import { newId } from "../services/common/ids.js";
import { roomKeys } from "../services/common/keys.js";
import { closeRedis, isRedisReady } from "../services/common/redis.js";
import { createClockReporter } from "../services/gateway/clock-reporter.js";
import { createGatewayMetrics } from "../services/gateway/metrics.js";
import { createRoomHub } from "../services/gateway/room-hub.js";
import { createRoomRefetch, type RoomRefetch } from "../services/gateway/room-refetch.js";
import { createRoomRequests, RENEW_CONCURRENCY, type RoomRequests } from "../services/gateway/room-requests.js";
import { StreamSession } from "../services/gateway/stream-session.js";
import { eventually, WAIT_MS } from "./support/eventually.js";
import { inspectRedis, testLogger, testRedis } from "./support/stack.js";

type StateInit = MessageInitShape<typeof RoomStateSchema>;

/** Events a room may have waiting for fan-out here. */
const BACKLOG = 32;

/**
 * The gateway's room requests and fan-out against a real Redis, with a rooms service on a real
 * HTTP/2 port whose room-state reads the test answers one by one: the order in which fetches
 * finish is the test's to choose.
 */
describe("a stream's room states and events, in order", () => {
  const publisher = inspectRedis();
  const subscriber = testRedis("order-events");
  const logger = testLogger("gateway");
  const metrics = createGatewayMetrics(new Registry());
  /** Room-state reads waiting for the test's answer. */
  const reads: Array<{ roomId: string; answer(state: StateInit): void }> = [];
  /** RenewSessions calls: held until the test answers them. */
  const renewals = { held: [] as Array<() => void>, rooms: [] as string[], maxInFlight: 0 };
  /** Rooms whose reads are answered at once, with this state (and how many were). */
  const answering = new Map<string, { state: StateInit; reads: number }>();
  /** Rooms whose next reads answer UNAVAILABLE (as while Redis fails over), and how many. */
  const unavailable = new Map<string, number>();
  /** The state each join code attaches to. */
  const rooms = new Map<string, StateInit>();
  let server: Http2Server;
  let sessions: Http2SessionManager;
  let requests: RoomRequests;
  let refetches: RoomRefetch;

  beforeAll(async () => {
    const routes = (router: ConnectRouter) => {
      router.service(PresenceService, {
        attachSession: async (req) => ({ state: rooms.get(req.room.value ?? "") }),
        detachSession: async () => ({}),
        renewSessions: (req) =>
          new Promise((resolve) => {
            renewals.rooms.push(req.roomId);
            renewals.maxInFlight = Math.max(renewals.maxInFlight, renewals.held.push(() => resolve({ unknownSessionIds: [] })));
          }),
        touchMember: async () => ({}),
      });
      router.service(RoomService, {
        getRoomState: (req) => {
          const failures = unavailable.get(req.roomId) ?? 0;
          if (failures > 0) {
            unavailable.set(req.roomId, failures - 1);
            return Promise.reject(new ConnectError("storage is unavailable; retry shortly", Code.Unavailable));
          }
          const auto = answering.get(req.roomId);
          if (auto !== undefined) {
            auto.reads++;
            return Promise.resolve({ state: auto.state });
          }
          return new Promise((resolve) => reads.push({ roomId: req.roomId, answer: (state) => resolve({ state }) }));
        },
      });
    };
    // Connected before the first join, as a gateway's subscriber is before it is ready.
    await eventually(async () => (isRedisReady(subscriber) ? true : undefined), WAIT_MS, "the subscriber connected");
    server = createServer(connectNodeAdapter({ routes }));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    sessions = new Http2SessionManager(baseUrl);
    const transport = createGrpcTransport({ baseUrl, sessionManager: sessions });
    const reporter = createClockReporter(createClient(ClockSampleService, transport), { batchDelayMs: 5, maxBatch: 10, maxQueued: 10 }, logger);
    refetches = createRoomRefetch({ rooms: createClient(RoomService, transport), logger });
    const hub = createRoomHub({
      subscriber,
      logger,
      metrics,
      onMemberGone: (session, roomId, reason) => requests.memberGone(session, roomId, reason),
      onMissed: (roomId, sessions) => void refetches.refetch(roomId, sessions),
      maxBacklog: BACKLOG,
    });
    requests = createRoomRequests({
      presence: createClient(PresenceService, transport),
      rooms: createClient(RoomService, transport),
      playback: createClient(PlaybackService, transport),
      hub,
      reporter,
      logger,
    });
  });
  afterAll(async () => {
    refetches.stop();
    await closeRedis(subscriber);
    publisher.disconnect();
    sessions.abort();
    await new Promise((resolve) => server.close(resolve));
  });

  const limits = { maxPingsPerSecond: 10, pingBurst: 10, maxPingViolations: 10, outboundCapacity: 256, maxPendingRequests: 16 };

  /** A stream whose outgoing messages are collected as the gateway queues them. */
  function openStream() {
    const session = new StreamSession(newId(), { userId: "ada", displayName: "Ada" }, "", limits, Date.now());
    const sent: ServerMessage[] = [];
    void (async () => {
      for (let r = await session.nextOutbound(); !r.done; r = await session.nextOutbound()) sent.push(r.value as ServerMessage);
    })();
    const sentOne = (match: (m: ServerMessage) => boolean, what: string) =>
      eventually(async () => sent.find(match), WAIT_MS, what);
    return { session, sent, sentOne };
  }

  /** A room event frame as a rooms-service script publishes it: member `roomId-seq` joined. */
  const frame = (roomId: string, seq: number) =>
    Buffer.concat([
      Buffer.from(`${seq}:`),
      toBinary(RoomEventSchema, create(RoomEventSchema, { roomId, event: { case: "memberJoined", value: { member: { userId: `${roomId}-${seq}` } } } })),
    ]);
  let eventsReceived = 0;
  const received = async () => (await metrics.roomEvents.get()).values[0]?.value ?? 0;
  async function publish(roomId: string, seq: number): Promise<void> {
    await publisher.spublish(roomKeys.events(roomId), frame(roomId, seq));
    // The hub hands an event to a small room's streams as it arrives.
    const expected = ++eventsReceived;
    await eventually(async () => ((await received()) >= expected ? true : undefined), WAIT_MS, `event ${seq}`);
  }

  /** The next room-state read the gateway makes (of `roomId`), once it has reached the rooms service. */
  const nextRead = (roomId: string) =>
    eventually(async () => {
      const i = reads.findIndex((r) => r.roomId === roomId);
      return i < 0 ? undefined : reads.splice(i, 1)[0]!;
    }, WAIT_MS, `a read of ${roomId}`);

  const state = (roomId: string, seq: number): StateInit => ({ roomId, roomCode: `code-${roomId}`, seq: BigInt(seq) });

  /**
   * What a client must be able to rely on: a room's events come after a state of the room and
   * are newer than it, and no state is older than an event of its room sent before it.
   */
  function expectOrdered(sent: ServerMessage[]): void {
    let room = "";
    let seen = -1n;
    for (const m of sent) {
      if (m.message.case === "roomState") {
        const s: RoomState = m.message.value;
        if (s.roomId === room && s.seq < seen) throw new Error(`state ${s.seq} of ${room} sent after event ${seen}`);
        room = s.roomId;
        seen = s.seq;
      } else if (m.seq > 0n) {
        const member = (m.message.value as { member?: { userId: string } }).member?.userId ?? "";
        if (!member.startsWith(`${room}-`)) throw new Error(`event ${member} sent while the stream has the state of ${room || "no room"}`);
        if (m.seq <= seen) throw new Error(`event ${m.seq} of ${room} sent after the client had ${seen}`);
        seen = m.seq;
      }
    }
  }

  it("never sends a state after events newer than it when a request and a refetch overlap", async () => {
    const roomId = newId();
    rooms.set(`code-${roomId}`, state(roomId, 0));
    const { session, sent, sentOne } = openStream();
    const joined = requests.join(session, "join", `code-${roomId}`);
    (await nextRead(roomId)).answer(state(roomId, 0)); // the first stream of the room here: read again
    await joined;
    await publish(roomId, 1);

    // get_room_state reads the room at seq 2; before its answer is back, event 3 shows a gap.
    const asked = requests.state(session, "ask");
    const read = await nextRead(roomId);
    await publish(roomId, 3);
    const refetch = await nextRead(roomId);
    refetch.answer(state(roomId, 3));
    await sentOne((m) => m.message.case === "roomState" && m.requestId === "" && m.message.value.seq === 3n, "the refetched state");
    await publish(roomId, 4);
    read.answer(state(roomId, 2));
    await asked;
    await sentOne((m) => m.message.case === "memberJoined" && m.seq === 4n, "event 4");

    expectOrdered(sent);
    expect(sent.find((m) => m.requestId === "ask")?.message.case).toBe("roomState");
  });

  it("keeps a new room's events for its own state when a refetch of the old room ends first", async () => {
    const [first, second] = [newId(), newId()];
    rooms.set(`code-${first}`, state(first, 0));
    rooms.set(`code-${second}`, state(second, 5));
    const { session, sent, sentOne } = openStream();
    const joined = requests.join(session, "join-1", `code-${first}`);
    (await nextRead(first)).answer(state(first, 0));
    await joined;

    // A refetch of the first room is on its way when the stream joins the second.
    const refetched = refetches.refetch(first, [session]);
    const oldRead = await nextRead(first);
    const moved = requests.join(session, "join-2", `code-${second}`);
    const newRead = await nextRead(second);
    await publish(second, 6);
    oldRead.answer(state(first, 0));
    await refetched;
    newRead.answer(state(second, 5));
    await moved;
    await sentOne((m) => m.message.case === "memberJoined" && m.seq === 6n, "the second room's event");

    expectOrdered(sent);
    expect(sent.filter((m) => m.message.case === "roomState").map((m) => [m.requestId, (m.message.value as RoomState).roomId])).toEqual([
      ["join-1", first],
      ["join-2", second],
    ]);
  });

  it("reads a room once for refetches that overlap, once more after them, and again after UNAVAILABLE", async () => {
    const roomId = newId();
    rooms.set(`code-${roomId}`, state(roomId, 0));
    const [ada, bob] = [openStream(), openStream()];
    for (const { session } of [ada, bob]) {
      const joined = requests.join(session, "join", `code-${roomId}`);
      if (session === ada.session) (await nextRead(roomId)).answer(state(roomId, 0));
      await joined;
    }

    // Redis fails over: the first two reads answer UNAVAILABLE, then the read is retried.
    unavailable.set(roomId, 2);
    const first = refetches.refetch(roomId, [ada.session]);
    const second = refetches.refetch(roomId, [ada.session, bob.session]);
    (await nextRead(roomId)).answer(state(roomId, 1));
    // The second loss may have come after that read began: one more read, for both streams.
    (await nextRead(roomId)).answer(state(roomId, 2));
    await Promise.all([first, second]);

    expect(unavailable.get(roomId)).toBe(0);
    expect(reads.filter((r) => r.roomId === roomId)).toEqual([]);
    for (const { sent } of [ada, bob]) {
      const refetched = sent.filter((m) => m.message.case === "roomState" && m.requestId === "");
      expect(refetched.map((m) => (m.message.value as RoomState).seq)).toEqual([2n]);
    }
  });

  it("drops a big room's events beyond its backlog, and its streams read the state again", async () => {
    const roomId = newId();
    rooms.set(`code-${roomId}`, state(roomId, 0));
    // More streams than one fan-out chunk: the hub yields between chunks while events pile up.
    const streams = Array.from({ length: 150 }, () => openStream());
    const first = requests.join(streams[0]!.session, "join", `code-${roomId}`);
    (await nextRead(roomId)).answer(state(roomId, 0));
    await first;
    await Promise.all(streams.slice(1).map((s) => requests.join(s.session, "join", `code-${roomId}`)));

    const events = 4 * BACKLOG;
    // Each overflow reads the room again: the rooms service answers with everything published.
    const reads = { state: state(roomId, events), reads: 0 };
    answering.set(roomId, reads);
    const pipeline = publisher.pipeline();
    for (let seq = 1; seq <= events; seq++) pipeline.spublish(roomKeys.events(roomId), frame(roomId, seq));
    await pipeline.exec();
    eventsReceived += events;
    await eventually(async () => ((await received()) >= eventsReceived ? true : undefined), WAIT_MS, "every event at the hub");
    // Every stream ends up with the room as of the last event, by events or a state.
    const latest = (s: ReturnType<typeof openStream>) =>
      s.sent.reduce((seq, m) => (m.message.case === "roomState" ? (m.message.value as RoomState).seq : m.seq > seq ? m.seq : seq), 0n);
    await eventually(async () => (streams.every((s) => latest(s) === BigInt(events)) ? true : undefined), WAIT_MS, "every stream up to date");

    expect(reads.reads).toBeGreaterThan(0);
    for (const s of streams) {
      expectOrdered(s.sent);
      expect(s.sent.filter((m) => m.seq > 0n).length).toBeLessThan(events);
    }
    expect((await metrics.backlogOverflows.get()).values[0]?.value).toBeGreaterThan(0);
  });

  it("renews the leases of many rooms a few calls at a time, one renewal at a time", async () => {
    const roomIds = Array.from({ length: 3 * RENEW_CONCURRENCY }, () => newId());
    for (const roomId of roomIds) {
      rooms.set(`code-${roomId}`, state(roomId, 0));
      answering.set(roomId, { state: state(roomId, 0), reads: 0 });
    }
    await Promise.all(roomIds.map((roomId) => requests.join(openStream().session, "join", `code-${roomId}`)));
    Object.assign(renewals, { rooms: [], maxInFlight: 0 });

    // A second renewal is due while the first still waits for the rooms service.
    const both = Promise.all([requests.renewLeases(), requests.renewLeases()]);
    let finished = false;
    void both.then(() => (finished = true));
    while (!finished) {
      const answer = renewals.held.shift();
      if (answer !== undefined) answer();
      else await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(renewals.maxInFlight).toBeLessThanOrEqual(RENEW_CONCURRENCY);
    expect(renewals.rooms.filter((r) => roomIds.includes(r)).sort()).toEqual([...roomIds].sort());
  });
});
