import { eventually, WAIT_MS } from "./support/eventually.js";
import { login } from "./support/stream-client.js";
import { connectRaw } from "./support/raw-connection.js";
import { startStack, type Stack } from "./support/stack.js";


describe("a burst of new connections", () => {
  let stack: Stack;
  let gw: string;
  beforeAll(async () => {
    // Idle connections are not closed during this test: only the admission bound acts.
    stack = await startStack({ gateway: { maxPendingConnections: 2, idleTimeoutMs: 600_000, connectionHandshakeMs: 600_000 } });
    gw = stack.gatewayUrls[0]!;
  });
  afterAll(() => stack.stop());

  it("is shed at once beyond the connections still getting started, and admitted again as they start calls or go", async () => {
    const [a, b] = await Promise.all([connectRaw(gw), connectRaw(gw)]);
    const events: string[] = [];
    a.on("close", () => events.push("a closed"));
    b.on("close", () => events.push("b closed"));
    // Two connections that have not started a call hold both places: a third is reset at once.
    const shed = await connectRaw(gw);
    const reset = await new Promise<string>((resolve) => {
      shed.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      shed.once("close", () => resolve("closed"));
    });
    expect(["ECONNRESET", "closed"]).toContain(reset);
    expect(events).toEqual([]); // the pending ones were left alone

    // One of them leaves: once the gateway has seen it go, a client gets in and is served.
    a.destroy();
    const bob = await eventually(() => login(gw, "Bob"), WAIT_MS, "a login after a pending connection left");
    expect(bob.userId).toMatch(/\w/);
    b.destroy();
  });
});
