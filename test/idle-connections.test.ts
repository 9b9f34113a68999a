import * as http2 from "node:http2";
import * as net from "node:net";
import { guest } from "./support/rooms-client.js";
import { startStack, type Stack } from "./support/stack.js";

/** Resolves when the server closes the connection. */
const closedByServer = (socket: net.Socket) => new Promise<void>((resolve) => socket.once("close", () => resolve()));

function connect(url: string): Promise<net.Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => resolve(socket));
    socket.once("error", reject);
  });
}

describe("connections that hold a slot without using it", () => {
  let stack: Stack;
  let gw: string;
  beforeAll(async () => {
    stack = await startStack({ gateway: { idleTimeoutMs: 300 } });
    gw = stack.gatewayUrls[0]!;
  });
  afterAll(() => stack.stop());

  it("are closed when they send nothing, or never finish their HTTP/1.1 headers though they keep trickling", async () => {
    const silent = await connect(gw);
    const halfHeader = await connect(gw);
    halfHeader.write("POST /groovebox.auth.v1.AuthService/Login HTTP/1.1\r\nHost: groovebox\r\n");
    // One more header byte now and then: activity, but the headers never end.
    const trickle = setInterval(() => halfHeader.write("X"), 50);
    await Promise.all([closedByServer(silent), closedByServer(halfHeader)]);
    clearInterval(trickle);
  });

  it("closes an HTTP/1.1 connection idle after its request, and an HTTP/2 one that opens no stream", async () => {
    const keepAlive = await connect(gw);
    let response = "";
    keepAlive.on("data", (d: Buffer) => (response += d.toString("latin1")));
    keepAlive.write("GET /nothing-here HTTP/1.1\r\nHost: groovebox\r\nConnection: keep-alive\r\n\r\n");

    const session = http2.connect(gw);
    session.on("error", () => undefined);
    const h2Closed = new Promise<void>((resolve) => session.once("close", () => resolve()));
    const goaway = new Promise<void>((resolve) => session.once("goaway", () => resolve()));

    await Promise.all([closedByServer(keepAlive), h2Closed, goaway]);
    expect(response).toMatch(/^HTTP\/1\.1 404/);
  });

  it("keeps a connection with a stream open for as long as it stays open", async () => {
    const ada = await guest(gw, "Ada");
    const stream = await ada.connect();
    const idle = await connect(gw);
    await closedByServer(idle); // the idle time has passed for both connections
    await stream.send({ message: { case: "ping", value: { seq: 1n, clientSendTimeMs: Date.now() } } });
    expect((await stream.next("pong")).message.value.seq).toBe(1n);
    stream.cancel();
  });
});
