import { createClient, Code } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../gen/grpc/health/v1/health_pb.js";
import { startStack, type Stack } from "./support/stack.js";
import { grpcTransport } from "./support/stream-client.js";

describe("health", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack.stop().catch(() => undefined));

  it("answers grpc.health.v1 Check on every service's port, and GET /healthz and /metrics on its operators' port only", async () => {
    const { operatorUrls: ops } = stack;
    const services: Array<[string, string]> = [
      [stack.gatewayUrls[0]!, ops.gateways[0]!],
      [stack.clockUrl, ops.clock],
      [stack.roomsUrl, ops.rooms],
      [stack.playbackUrl, ops.playback],
    ];
    for (const [url, operatorUrl] of services) {
      const health = createClient(Health, grpcTransport(url));
      expect((await health.check({ service: "" })).status).toBe(Status.SERVING);
      await expect(health.check({ service: "no.such.Service" })).rejects.toMatchObject({ code: Code.NotFound });
      const res = await fetch(`${operatorUrl}/healthz`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: "SERVING" });
      const metrics = await fetch(`${operatorUrl}/metrics`);
      expect(metrics.status).toBe(200);
      expect(metrics.headers.get("content-type")).toMatch(/^text\/plain/);
      // The service's own (public, for the gateway) port does not serve them.
      expect((await fetch(`${url}/metrics`)).status).toBe(404);
      expect((await fetch(`${url}/healthz`)).status).toBe(404);
    }
    expect(await (await fetch(`${ops.gateways[0]}/metrics`)).text()).toMatch(/^gateway_pings_total \d+/m);
    const gateway = createClient(Health, grpcTransport(stack.gatewayUrls[0]!));
    expect((await gateway.check({ service: "groovebox.gateway.v1.GatewayService" })).status).toBe(Status.SERVING);
  });

  it("streams the status on Watch until the service shuts down", async () => {
    const health = createClient(Health, grpcTransport(stack.roomsUrl));
    const seen: Status[] = [];
    const watching = (async () => {
      try {
        for await (const res of health.watch({ service: "groovebox.room.v1.RoomService" })) {
          seen.push(res.status);
          if (seen.length === 1) void stack.stop();
        }
      } catch {
        // the stream ends with the server
      }
    })();
    await watching; // ends: the server closes its streams on shutdown
    expect(seen[0]).toBe(Status.SERVING);
  });
});
