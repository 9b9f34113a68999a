import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { createConnectTransport } from "@connectrpc/connect-web";
import { ClockService } from "../../../gen/groovebox/clock/v1/clock_pb.js";
import { createPingService } from "../../../services/common/ping-service.js";
import type { ExchangeTimes } from "../clock/clock-filter.js";
import { performanceClock } from "../clock/local-clock.js";
import { createNetworkStamper, noteFetchCall, type NetworkStamper } from "./resource-timing.js";

/**
 * Node's fetch reports Resource Timing entries as browsers do (its own stamps, on the same
 * performance clock), so the browser environment's pings are tested here against a real
 * ClockService/Ping over HTTP/1.1, stamping t1 and t2 by the same clock as the device.
 */
describe("pings stamped by Resource Timing", () => {
  let server: http.Server;
  let baseUrl: string;
  let stamper: NetworkStamper;
  beforeAll(async () => {
    server = http.createServer(connectNodeAdapter({ routes: (router) => router.service(ClockService, createPingService(performanceClock)) }));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    stamper = createNetworkStamper()!;
  });
  afterAll(async () => {
    stamper.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  /** One ping as the unary channel sends it, through a transport with `interceptors`. */
  async function ping(interceptors: Interceptor[]): Promise<{ script: ExchangeTimes; stamped: ExchangeTimes }> {
    const clock = createClient(ClockService, createConnectTransport({ baseUrl, useBinaryFormat: true, interceptors }));
    const call = stamper.ping();
    const t0 = performanceClock.now();
    const res = await clock.ping({ clientSendTimeMs: t0 }, { contextValues: call.contextValues });
    const script = { t0, t1: res.serverReceiveTimeMs, t2: res.serverSendTimeMs, t3: performanceClock.now() };
    return { script, stamped: await call.stamp(script) };
  }

  it("takes each ping's send and receive times from its own fetch's entry, between the script's and around the server's", async () => {
    // Four at once: each must find its own entry among the others.
    const pings = await Promise.all([1, 2, 3, 4].map(() => ping([noteFetchCall])));
    for (const { script, stamped } of pings) {
      expect([stamped.t1, stamped.t2]).toEqual([script.t1, script.t2]);
      expect(stamped.t0 !== script.t0 || stamped.t3 !== script.t3).toBe(true);
      const order = [script.t0, stamped.t0, stamped.t1, stamped.t2, stamped.t3, script.t3];
      expect(order).toEqual([...order].sort((a, b) => a - b));
    }
  });

  it("keeps the script's stamps for a ping whose fetch no interceptor noted", async () => {
    const { script, stamped } = await ping([]);
    expect(stamped).toEqual(script);
  });
});
