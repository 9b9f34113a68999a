import * as http2 from "node:http2";
import { guest } from "./support/rooms-client.js";
import { closedByServer, connectRaw } from "./support/raw-connection.js";
import { startStack, type Stack } from "./support/stack.js";



describe("connections that hold a slot without using it", () => {
  let stack: Stack;
  let gw: string;
  beforeAll(async () => {
    stack = await startStack({ gateway: { idleTimeoutMs: 300 } });
    gw = stack.gatewayUrls[0]!;
  });
  afterAll(() => stack.stop());

  it("are closed when they send nothing, or never finish their HTTP/1.1 headers though they keep trickling", async () => {
    const silent = await connectRaw(gw);
    const halfHeader = await connectRaw(gw);
    halfHeader.write("POST /groovebox.auth.v1.AuthService/Login HTTP/1.1\r\nHost: groovebox\r\n");
    // One more header byte now and then: activity, but the headers never end.
    const trickle = setInterval(() => halfHeader.write("X"), 50);
    await Promise.all([closedByServer(silent), closedByServer(halfHeader)]);
    clearInterval(trickle);
  });

  it("closes an HTTP/1.1 connection idle after its request, and an HTTP/2 one that opens no stream", async () => {
    const keepAlive = await connectRaw(gw);
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
    const idle = await connectRaw(gw);
    await closedByServer(idle); // the idle time has passed for both connections
    await stream.send({ message: { case: "ping", value: { seq: 1n, clientSendTimeMs: Date.now() } } });
    expect((await stream.next("pong")).message.value.seq).toBe(1n);
    stream.cancel();
  });
});
