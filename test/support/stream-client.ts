import type { MessageInitShape } from "@bufbuild/protobuf";
import { ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import { createWritableIterable } from "@connectrpc/connect/protocol";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { AuthService } from "../../gen/groovebox/auth/v1/auth_pb.js";
import {
  GatewayService,
  type ClientMessageSchema,
  type ServerMessage,
} from "../../gen/groovebox/gateway/v1/gateway_pb.js";
import { WAIT_MS } from "./eventually.js";

export type ClientMessageInit = MessageInitShape<typeof ClientMessageSchema>;
type Case = NonNullable<ServerMessage["message"]["case"]>;
export type ServerMessageOf<C extends Case> = ServerMessage & { message: Extract<ServerMessage["message"], { case: C }> };

/** An HTTP/2 gRPC transport to a test server. */
export const grpcTransport = (baseUrl: string): Transport => createGrpcTransport({ baseUrl });

/** The protocols a client may use with the gateway. */
export type Protocol = "grpc" | "connect" | "grpc-web";

/** A transport of the given protocol: gRPC over HTTP/2, Connect over HTTP/2, gRPC-Web over HTTP/2. */
export function transportFor(protocol: Protocol, baseUrl: string): Transport {
  if (protocol === "connect") return createConnectTransport({ baseUrl, httpVersion: "2" });
  if (protocol === "grpc-web") return createGrpcWebTransport({ baseUrl, httpVersion: "2" });
  return createGrpcTransport({ baseUrl });
}

/** Logs a guest in through the gateway. */
export async function login(baseUrl: string, displayName = "Tester"): Promise<{ token: string; userId: string }> {
  const res = await createClient(AuthService, grpcTransport(baseUrl)).login({ displayName });
  return { token: res.token, userId: res.userId };
}

export const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

/**
 * A client's side of a gateway stream for tests: send messages, and wait for the next server
 * message of a kind (messages are buffered, nothing is lost while the test is elsewhere).
 */
export class TestStream {
  private readonly buffer: ServerMessage[] = [];
  private waiters: Array<() => void> = [];
  private readonly input = createWritableIterable<ClientMessageInit>();
  private readonly abort = new AbortController();
  /** Resolves when the stream ends: undefined for a normal end, else its error. */
  readonly ended: Promise<ConnectError | undefined>;
  private finished = false;

  private constructor(run: (input: AsyncIterable<ClientMessageInit>, signal: AbortSignal) => AsyncIterable<ServerMessage>) {
    this.ended = (async () => {
      try {
        for await (const msg of run(this.input, this.abort.signal)) {
          this.buffer.push(msg);
          this.wake();
        }
        return undefined;
      } catch (err) {
        return ConnectError.from(err);
      } finally {
        // Like a real client: once the server has ended the call, stop sending.
        this.input.close();
        this.finished = true;
        this.wake();
      }
    })();
  }

  /** Opens GatewayService/Connect with a token (gRPC unless told otherwise). */
  static connect(baseUrl: string, token: string, protocol: Protocol = "grpc"): TestStream {
    const c: Client<typeof GatewayService> = createClient(GatewayService, transportFor(protocol, baseUrl));
    return new TestStream((input, signal) => c.connect(input, { ...bearer(token), signal }));
  }

  /** Opens GatewayService/Subscribe for a room. */
  static subscribe(baseUrl: string, token: string, roomId: string, protocol: Protocol = "grpc"): TestStream {
    const c = createClient(GatewayService, transportFor(protocol, baseUrl));
    return new TestStream((_input, signal) => c.subscribe({ roomId }, { ...bearer(token), signal }));
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  send(msg: ClientMessageInit): Promise<void> {
    return this.input.write(msg);
  }

  /** Ends the client's side (half-close). */
  end(): void {
    this.input.close();
  }

  /** Drops the stream (as a client that goes away). */
  cancel(): void {
    this.abort.abort();
  }

  /**
   * Takes the first buffered message that matches, waiting for one; rejects when the stream
   * ends first or nothing matches within `timeoutMs`. With `dropEarlier`, the messages before
   * it are dropped too.
   */
  private async take(match: (m: ServerMessage) => boolean, what: string, timeoutMs: number, dropEarlier: boolean) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.buffer.findIndex(match);
      if (i >= 0) return dropEarlier ? this.buffer.splice(0, i + 1).pop()! : this.buffer.splice(i, 1)[0]!;
      if (this.finished) throw new Error(`stream ended while waiting for ${what}: ${String(await this.ended)}`);
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`no ${what} within ${timeoutMs} ms; got ${this.buffer.map((m) => m.message.case).join(", ")}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The next message of kind `kind`, dropping the other messages before it. */
  next<C extends Case>(kind: C, timeoutMs = WAIT_MS): Promise<ServerMessageOf<C>> {
    return this.take((m) => m.message.case === kind, kind, timeoutMs, true) as Promise<ServerMessageOf<C>>;
  }

  /** The next message, whatever its kind. */
  nextAny(timeoutMs = WAIT_MS): Promise<ServerMessage> {
    return this.take(() => true, "message", timeoutMs, true);
  }

  /** The next room event (a message with a sequence number), whatever its kind. */
  nextEvent(timeoutMs = WAIT_MS): Promise<ServerMessage> {
    return this.take((m) => m.seq > 0n, "room event", timeoutMs, true);
  }

  /** Sends a request and waits for the message that answers it (by request_id). */
  async request(msg: ClientMessageInit & { requestId: string }, timeoutMs = WAIT_MS): Promise<ServerMessage> {
    await this.send(msg);
    return this.take((m) => m.requestId === msg.requestId, `answer to ${msg.requestId}`, timeoutMs, false);
  }
}
