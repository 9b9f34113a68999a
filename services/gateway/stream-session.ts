import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorCode, type ServerMessageSchema } from "../../gen/groovebox/gateway/v1/gateway_pb.js";
import type { RoomState } from "../../gen/groovebox/room/v1/room_pb.js";
import { OutboundQueue } from "./outbound-queue.js";
import { PingLimiter } from "./ping-limiter.js";

export type ServerMessageInit = MessageInitShape<typeof ServerMessageSchema>;

/** What the gateway remembers of a pong until the next ping reports when it arrived. */
interface PongRecord {
  seq: bigint;
  t0: number;
  t1: number;
  t2: number;
}

/** How many recent pongs a stream remembers (a client reports the previous one). */
const PONGS_REMEMBERED = 4;

/**
 * A room whose state is being fetched for the stream (by one or more fetches at once): its
 * events wait here until every fetch of it is done, so none overtakes a state read before it.
 */
interface HeldRoom {
  fetches: number;
  events: ServerMessageInit[];
  /** The newest state sent while the room is held: a fetch that read an older one answers with this. */
  newest?: RoomState;
}

export interface StreamLimits {
  maxPingsPerSecond: number;
  pingBurst: number;
  /** Refused pings in a row after which the stream is ended. */
  maxPingViolations: number;
  /** Messages the gateway buffers for a stream before it ends it as too slow. */
  outboundCapacity: number;
  /** Requests (join, commands) a stream may have in progress at once. */
  maxPendingRequests: number;
}

/**
 * One client stream (Connect or Subscribe): who it is, which room it is in, what it is
 * waiting to be sent, and the per-stream limits. Kept small: a gateway holds many.
 */
export class StreamSession {
  roomId = "";
  /** Set when the stream has ended: no new requests start, and what is in progress undoes itself. */
  ended = false;
  private readonly outbound: OutboundQueue<ServerMessageInit>;
  private failed = false;
  private onFailure: Array<() => void> = [];
  private readonly pingLimiter: PingLimiter;
  private readonly pongs: PongRecord[] = [];
  private pingViolations = 0;
  private pendingRequests = 0;
  private requestChain: Promise<void> = Promise.resolve();
  /** Room events at or below this seq (of room floorRoom, whose state the client has) the client has already. */
  private eventFloor = 0n;
  private floorRoom = "";
  /** Rooms with a state fetch in progress (join, get_room_state, refetch), each with its own held events. */
  private readonly held = new Map<string, HeldRoom>();

  constructor(
    readonly id: string,
    readonly user: { userId: string; displayName: string },
    /** The caller's Authorization header, passed on when the gateway acts for the user. */
    readonly authorization: string,
    private readonly limits: StreamLimits,
    nowMs: number,
  ) {
    this.outbound = new OutboundQueue(limits.outboundCapacity);
    this.pingLimiter = new PingLimiter(limits.maxPingsPerSecond, limits.pingBurst, nowMs);
  }

  /**
   * Queues a message for the client; a stream that cannot keep up is ended. After the stream
   * ended (normally or not), messages are dropped.
   */
  send(message: ServerMessageInit): void {
    if (this.outbound.push(message) === "full") {
      this.fail(
        new ConnectError(
          "stream is too slow: the server's buffer for it is full; reconnect and join again",
          Code.ResourceExhausted,
        ),
      );
    }
  }

  /**
   * Delivers an event of room `roomId`. While a state of the room is being fetched the event is
   * held until every such fetch is done; events of another room than the stream's, or that the
   * client has (in a state or as events), are skipped.
   */
  deliverRoomEvent(roomId: string, event: ServerMessageInit): void {
    const held = this.held.get(roomId);
    if (held !== undefined) {
      if (held.events.length >= this.limits.outboundCapacity) {
        this.fail(new ConnectError("stream is too slow: too many events while fetching the room", Code.ResourceExhausted));
        return;
      }
      held.events.push(event);
      return;
    }
    const seq = event.seq ?? 0n;
    if (roomId !== this.roomId || roomId !== this.floorRoom || seq <= this.eventFloor) return;
    this.eventFloor = seq;
    this.send(event);
  }

  /**
   * A state of room `roomId` is being fetched (join, get_room_state, refetch): the room's
   * events are held from now on. Each call is ended by one releaseEvents for the same room.
   */
  holdEvents(roomId: string): void {
    const held = this.held.get(roomId);
    if (held === undefined) this.held.set(roomId, { fetches: 1, events: [] });
    else held.fetches++;
  }

  /**
   * A fetch of room `roomId` is done: its `state` (undefined when it failed) is sent as the
   * answer to `requestId` if the stream is still in that room, or the newer state another
   * fetch of the room sent meanwhile. Once no fetch of the room is left, its held events newer
   * than what the client has follow. A state is read after its fetch began holding the room's
   * events, so it is never older than events the client already has. Returns whether a state
   * was sent.
   */
  releaseEvents(roomId: string, requestId: string, state: RoomState | undefined): boolean {
    const held = this.held.get(roomId);
    if (held === undefined) throw new Error(`releaseEvents(${roomId}) without holdEvents`);
    let sent = false;
    if (state !== undefined && roomId === this.roomId) {
      const answer = held.newest !== undefined && held.newest.seq > state.seq ? held.newest : state;
      held.newest = answer;
      // Sequence numbers are per room: a state of another room starts its own count.
      if (roomId !== this.floorRoom || answer.seq > this.eventFloor) this.eventFloor = answer.seq;
      this.floorRoom = roomId;
      this.send({ requestId, message: { case: "roomState", value: answer } });
      sent = true;
    }
    if (--held.fetches > 0) return sent;
    this.held.delete(roomId);
    for (const event of held.events) this.deliverRoomEvent(roomId, event);
    return sent;
  }

  /**
   * Answers a refused request (or ping) with RESOURCE_EXHAUSTED `why`; the stream goes on. A
   * client that floods faster than even the refusals can be written fills the stream's buffer
   * with them: that stream ends with `why`, not as a slow reader, since it is the client's
   * sending, not its reading, that is too fast.
   */
  refuse(requestId: string, why: string, pingSeq = 0n): void {
    // Room is kept for the answers of the requests in progress.
    if (this.outbound.size + this.pendingRequests >= this.limits.outboundCapacity) {
      this.fail(new ConnectError(`${why}; the stream is closed`, Code.ResourceExhausted));
      return;
    }
    this.sendError(requestId, Code.ResourceExhausted, why, pingSeq);
  }

  /** Answers a request with an error; the stream goes on. */
  sendError(requestId: string, code: Code, message: string, pingSeq = 0n): void {
    this.send({ requestId, message: { case: "error", value: { code: code as number as ErrorCode, message, pingSeq } } });
  }

  /** Ends the stream with an error status (the writer rethrows it). */
  fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.outbound.fail(err);
    for (const listener of this.onFailure.splice(0)) listener();
  }

  /** Resolves when the stream fails (never, if it ends normally). */
  whenFailed(): Promise<void> {
    return this.failed ? Promise.resolve() : new Promise((resolve) => this.onFailure.push(resolve));
  }

  /**
   * Resolves when the stream may take the client's next message: at once, unless half its
   * buffer waits to be written (then once it is down to a quarter). Readers that can wait
   * (connect-es hands over one message at a time) keep a fast-sending client from filling the
   * buffer with answers it is reading as fast as it can.
   */
  roomToReceive(): Promise<void> | undefined {
    const capacity = this.limits.outboundCapacity;
    return this.outbound.size + this.pendingRequests < capacity / 2 ? undefined : this.outbound.whenBelow(Math.ceil(capacity / 4));
  }

  /** Ends the stream normally once everything queued is sent. */
  close(): void {
    this.outbound.close();
  }

  /** The next message to write. */
  nextOutbound(): Promise<IteratorResult<ServerMessageInit>> {
    return this.outbound.next();
  }

  /** Writes messages with `write` as they are sent, while it takes more (OutboundQueue.writeThrough). */
  writeThrough(write: (msg: ServerMessageInit) => boolean): Promise<"full" | "ended"> {
    return this.outbound.writeThrough(write);
  }

  /**
   * Admits a ping at `nowMs` by the rate limit. A refused ping counts as a violation; too many
   * in a row end the stream with RESOURCE_EXHAUSTED.
   */
  admitPing(nowMs: number): boolean {
    if (this.pingLimiter.take(nowMs)) {
      this.pingViolations = 0;
      return true;
    }
    if (++this.pingViolations >= this.limits.maxPingViolations) {
      this.fail(new ConnectError("too many pings beyond the rate limit", Code.ResourceExhausted));
    }
    return false;
  }

  /** Remembers a pong as it is sent. */
  rememberPong(seq: bigint, t0: number, t1: number, t2: number): void {
    if (this.pongs.length === PONGS_REMEMBERED) this.pongs.shift();
    this.pongs.push({ seq, t0, t1, t2 });
  }

  /** The pong with this seq, once: a client cannot report the same exchange twice. */
  takePong(seq: bigint): PongRecord | undefined {
    const i = this.pongs.findIndex((p) => p.seq === seq);
    return i < 0 ? undefined : this.pongs.splice(i, 1)[0];
  }

  /**
   * Runs a request after the stream's earlier requests (answers keep their order), without
   * holding up pings. Beyond maxPendingRequests the request is refused.
   */
  runInOrder(requestId: string, task: () => Promise<void>): void {
    if (this.ended) return;
    if (this.pendingRequests >= this.limits.maxPendingRequests) {
      this.refuse(
        requestId,
        `too many requests in progress on this stream (at most ${this.limits.maxPendingRequests}): wait for answers before sending more`,
      );
      return;
    }
    this.pendingRequests++;
    this.requestChain = this.requestChain
      .then(task)
      .catch((err: unknown) => this.fail(err)) // tasks answer their own errors; anything else is a bug
      .finally(() => {
        this.pendingRequests--;
      });
  }

  /** Resolves when every request in progress has finished. */
  settled(): Promise<void> {
    return this.requestChain;
  }
}
