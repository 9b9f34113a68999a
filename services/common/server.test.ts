import { Writable } from "node:stream";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { pino } from "pino";
import { Registry } from "prom-client";
import { GatewayService } from "../../gen/groovebox/gateway/v1/gateway_pb.js";
import { grpcTransport } from "../../test/support/stream-client.js";
import { ManualClock } from "./clock-source.js";
import { createHealthRegistry } from "./health.js";
import { createServiceServer, type ServiceServer } from "./server.js";

/** A debug logger whose entries a test can wait for. */
function capturingLogger() {
  const entries: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      entries.push(JSON.parse(chunk.toString()));
      waiters.splice(0).forEach((w) => w());
      done();
    },
  });
  return {
    logger: pino({ level: "debug" }, sink),
    entries,
    /** Resolves with the first entry whose msg matches. */
    async entry(msg: string): Promise<Record<string, unknown>> {
      for (;;) {
        const found = entries.find((e) => e.msg === msg);
        if (found) return found;
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
  };
}

describe("service server", () => {
  let server: ServiceServer | undefined;
  afterEach(() => server?.stop());

  it("logs a client that hangs up while a stream message is written at debug, not on the console", async () => {
    const log = capturingLogger();
    const consoleError = jest.spyOn(console, "error");
    server = createServiceServer({
      host: "127.0.0.1",
      port: 0,
      shutdownGraceMs: 1000,
      operator: { host: "127.0.0.1", port: 0 },
      clock: new ManualClock(),
      logger: log.logger,
      metrics: new Registry(),
      health: createHealthRegistry({ services: [GatewayService.typeName] }),
      routes: (router) =>
        router.service(GatewayService, {
          connect: () => {
            throw new ConnectError("not here", Code.Unimplemented);
          },
          async *subscribe(_req, ctx) {
            yield { message: { case: "hello", value: {} } };
            // The client resets the stream; the next message is written to a destroyed stream.
            await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
            yield { message: { case: "hello", value: {} } };
          },
        }),
    });
    const url = `http://127.0.0.1:${await server.start()}`;
    const cancel = new AbortController();
    for await (const msg of createClient(GatewayService, grpcTransport(url)).subscribe({}, { signal: cancel.signal })) {
      expect(msg.message.case).toBe("hello");
      cancel.abort();
      break;
    }
    const entry = await log.entry("client went away while the response was written");
    expect(entry).toMatchObject({ level: 20, rpc: "Subscribe" });
    expect(consoleError).not.toHaveBeenCalled();
    consoleError.mockRestore();
  });
});
