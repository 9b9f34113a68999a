import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ServerMessageSchema, type ServerMessage } from "../../../gen/groovebox/gateway/v1/gateway_pb.js";
import { RoomStateSchema, type RoomState } from "../../../gen/groovebox/room/v1/room_pb.js";
import { Backoff } from "./backoff.js";
import type { Channel, ChannelEvents } from "./channel.js";
import { RoomSession, type ConnectionStatus } from "./room-session.js";

/** A channel that does what the test says, and records what it was asked. */
class FakeChannel implements Channel {
  sessionId = "s";
  joins: string[] = [];
  refetches = 0;
  closed = false;
  constructor(
    readonly events: ChannelEvents,
    private readonly roomSeq: () => bigint,
  ) {}
  ping = () => Promise.resolve({ t0: 0, t1: 0, t2: 0, t3: 0 });
  async joinRoom(roomCode: string): Promise<RoomState> {
    this.joins.push(roomCode);
    return create(RoomStateSchema, { roomId: "room-1", roomCode, seq: this.roomSeq() });
  }
  leaveRoom = () => Promise.resolve();
  async getRoomState(): Promise<RoomState> {
    this.refetches++;
    return create(RoomStateSchema, { roomId: "room-1", roomCode: "ABC234", seq: this.roomSeq() });
  }
  command = () => Promise.reject(new Error("not used"));
  report = () => {};
  close() {
    this.closed = true;
  }
  /** The server drops the connection. */
  drop(code = Code.Unavailable) {
    this.events.onClosed(new ConnectError("dropped", code));
  }
  event(seq: bigint): void {
    this.events.onMessage(create(ServerMessageSchema, { seq, message: { case: "memberLeft", value: { userId: "u" } } }));
  }
}

/**
 * `failures`: how the next attempts to open fail. `reportsEnd`: a failing channel also reports
 * its end before the open fails, as the stream channel does when the connection dies before
 * the gateway's hello.
 */
function setUp(opts: { failures?: Code[]; reportsEnd?: boolean } = {}) {
  const failures = [...(opts.failures ?? [])];
  const channels: FakeChannel[] = [];
  let seq = 5n;
  let now = 0;
  const session = new RoomSession({
    requestTimeoutMs: 60_000,
    now: () => now,
    random: () => 0.5,
    reconnect: { initialMs: 100, maxMs: 1000, factor: 2, stableAfterMs: 5000 },
    open: async (events) => {
      const code = failures.shift();
      if (code !== undefined) {
        const err = new ConnectError("refused", code);
        if (opts.reportsEnd) events.onClosed(err);
        throw err;
      }
      const ch = new FakeChannel(events, () => seq);
      channels.push(ch);
      return ch;
    },
  });
  const statuses: Array<[ConnectionStatus, number | undefined]> = [];
  session.on("status", (s, d) => statuses.push([s, d.delayMs]));
  const events: ServerMessage[] = [];
  session.on("event", (m) => events.push(m));
  const rooms: RoomState[] = [];
  session.on("room", (r) => rooms.push(r));
  const advance = (ms: number) => {
    now += ms;
    return jest.advanceTimersByTimeAsync(ms);
  };
  return {
    session,
    channels,
    statuses,
    events,
    rooms,
    setSeq: (s: bigint) => (seq = s),
    /** The next connection attempt fails with this code. */
    failNext: (code: Code) => failures.push(code),
    advance,
    /** Connects (the first attempt succeeds). */
    async connected() {
      const connecting = session.connect();
      await advance(0);
      await connecting;
    },
  };
}

describe("Backoff", () => {
  it("grows exponentially with jitter up to its maximum, and starts over after a stable connection", () => {
    const values = [0, 1, 0.5, 0.5, 0.5, 0.5];
    const b = new Backoff({ initialMs: 100, maxMs: 1000, factor: 2, stableAfterMs: 5000 }, () => values.shift()!);
    expect(b.next()).toBe(50); // half of 100, at random 0
    expect(b.next()).toBe(200); // all of 200, at random 1
    expect(b.next()).toBe(300); // 400 * 0.75
    expect(b.next()).toBe(600); // 800 * 0.75
    expect(b.next()).toBe(750); // capped at 1000
    b.connectionEnded(1000); // short-lived: keeps backing off
    expect(b.attempts).toBe(5);
    b.connectionEnded(5000);
    expect(b.attempts).toBe(0);
    expect(b.next()).toBe(75);
  });
});

describe("RoomSession", () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it("retries the first connection with backoff until the gateway answers", async () => {
    const t = setUp({ failures: [Code.Unavailable, Code.Unavailable] });
    let connected = false;
    void t.session.connect().then(() => (connected = true));
    await t.advance(0);
    expect(t.statuses).toEqual([["reconnecting", 75]]);
    await t.advance(75);
    expect(t.statuses[1]).toEqual(["reconnecting", 150]);
    expect(connected).toBe(false);
    await t.advance(150);
    expect(connected).toBe(true);
    expect(t.statuses[2]![0]).toBe("connected");
    t.session.close();
  });

  it("retries a channel that reports its end as it fails to open once, not twice", async () => {
    const t = setUp({ failures: [Code.Unavailable, Code.Unavailable], reportsEnd: true });
    const connecting = t.session.connect();
    await t.advance(0);
    await t.advance(75);
    await t.advance(150);
    await connecting;
    expect(t.statuses).toEqual([
      ["reconnecting", 75],
      ["reconnecting", 150],
      ["connected", undefined],
    ]);
    expect(t.channels).toHaveLength(1);
    await t.advance(10_000);
    expect(t.channels).toHaveLength(1);
    t.session.close();
  });

  it("fails at once on a fatal error (bad token), without retrying", async () => {
    const t = setUp({ failures: [Code.Unauthenticated] });
    await expect(t.session.connect()).rejects.toMatchObject({ code: Code.Unauthenticated });
    expect(t.session.connectionStatus).toBe("closed");
  });

  it("ends for good when a reconnection is refused with a fatal error, and its closed status says why", async () => {
    const t = setUp();
    await t.connected();
    const details: Array<Error | undefined> = [];
    t.session.on("status", (s, d) => s === "closed" && details.push(d.error));
    // The gateway comes back refusing the token (restarted with another secret, say).
    t.failNext(Code.Unauthenticated);
    t.channels[0]!.drop();
    const waiting = t.session.joinRoom("ABC234");
    await t.advance(100);
    expect(t.session.connectionStatus).toBe("closed");
    expect(details).toEqual([expect.objectContaining({ code: Code.Unauthenticated })]);
    await expect(waiting).rejects.toMatchObject({ code: Code.Unauthenticated });
    await t.advance(10_000);
    expect(t.channels).toHaveLength(1); // no retry
    t.session.close(); // closing again says nothing more
    expect(details).toHaveLength(1);
  });

  it("resumes after a drop: a new channel rejoins the room by code and its state replaces what was missed", async () => {
    const t = setUp();
    await t.connected();
    await t.session.joinRoom("ABC234");
    t.channels[0]!.event(6n);
    t.channels[0]!.drop();
    expect(t.session.connectionStatus).toBe("reconnecting");
    t.setSeq(9n); // events 7..9 happened meanwhile
    await t.advance(100);
    expect(t.session.connectionStatus).toBe("connected");
    expect(t.channels).toHaveLength(2);
    expect(t.channels[1]!.joins).toEqual(["ABC234"]);
    expect(t.rooms.map((r) => r.seq)).toEqual([5n, 9n]);
    // Events already in the state are not passed on again; the next one is.
    t.channels[1]!.event(9n);
    t.channels[1]!.event(10n);
    expect(t.events.map((e) => e.seq)).toEqual([6n, 10n]);
    // Events of the old channel are ignored.
    t.channels[0]!.event(11n);
    expect(t.events).toHaveLength(2);
    t.session.close();
  });

  it("refetches the state on a gap in sequence numbers and drops duplicates", async () => {
    const t = setUp();
    await t.connected();
    await t.session.joinRoom("ABC234");
    t.channels[0]!.event(6n);
    t.channels[0]!.event(6n);
    t.setSeq(8n);
    t.channels[0]!.event(8n); // 7 was missed
    await t.advance(0);
    expect(t.channels[0]!.refetches).toBe(1);
    expect(t.events.map((e) => e.seq)).toEqual([6n, 8n]);
    expect(t.rooms.at(-1)!.seq).toBe(8n);
    t.session.close();
  });

  it("lets requests wait for the reconnection", async () => {
    const t = setUp();
    await t.connected();
    t.channels[0]!.drop();
    const joined = t.session.joinRoom("XYZ789");
    await t.advance(100);
    await expect(joined).resolves.toMatchObject({ roomCode: "XYZ789" });
    expect(t.channels[1]!.joins).toEqual(["XYZ789"]);
    t.session.close();
  });

  it("backs off longer while connections keep dropping at once, and starts over after a stable one", async () => {
    const t = setUp();
    await t.connected();
    t.channels[0]!.drop();
    await t.advance(75);
    t.channels[1]!.drop();
    await t.advance(150);
    t.channels[2]!.drop();
    expect(t.statuses.filter(([s]) => s === "reconnecting").map(([, d]) => d)).toEqual([75, 150, 300]);
    await t.advance(300);
    await t.advance(6000); // stable
    t.channels[3]!.drop();
    expect(t.statuses.at(-1)).toEqual(["reconnecting", 75]);
    t.session.close();
  });
});
