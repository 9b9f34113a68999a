import { createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-node";
import { ClockService } from "../gen/groovebox/clock/v1/clock_pb.js";
import { startStack, type Stack } from "./support/stack.js";

const APP = "https://app.example";

describe("CORS on the gateway's public port", () => {
  let stack: Stack;
  let gw: string;
  beforeAll(async () => {
    stack = await startStack({ gateway: { corsOrigins: [APP, "http://localhost:5173"] } });
    gw = stack.gatewayUrls[0]!;
  });
  afterAll(() => stack.stop());

  const preflight = (path: string, origin: string, headers: string) =>
    fetch(`${gw}${path}`, {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": headers },
    });

  const listed = (value: string | null) => (value ?? "").split(",").map((h) => h.trim().toLowerCase());

  it.each([
    ["Connect", "/groovebox.room.v1.RoomService/CreateRoom", "authorization,connect-protocol-version,content-type"],
    ["gRPC-Web", "/groovebox.room.v1.RoomService/CreateRoom", "authorization,content-type,x-grpc-web,x-user-agent"],
    ["Connect streams", "/groovebox.gateway.v1.GatewayService/Subscribe", "authorization,connect-protocol-version,connect-timeout-ms,content-type"],
  ])("answers a preflight for %s from an allowed origin", async (_protocol, path, requested) => {
    const res = await preflight(path, APP, requested);
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe(APP);
    expect(listed(res.headers.get("access-control-allow-methods"))).toContain("post");
    expect(listed(res.headers.get("access-control-allow-headers"))).toEqual(expect.arrayContaining(requested.split(",")));
    expect(Number(res.headers.get("access-control-max-age"))).toBeGreaterThan(0);
    expect(res.headers.get("vary")).toMatch(/origin/i);
  });

  it("refuses a preflight from another origin", async () => {
    const res = await preflight("/groovebox.auth.v1.AuthService/Login", "https://elsewhere.example", "content-type");
    expect(res.status).toBe(403);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("lets an allowed page read a Connect answer and its headers", async () => {
    const res = await fetch(`${gw}/groovebox.auth.v1.AuthService/Login`, {
      method: "POST",
      headers: { origin: APP, "content-type": "application/json", "connect-protocol-version": "1" },
      body: JSON.stringify({ displayName: "Ada" }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe(APP);
    expect(listed(res.headers.get("access-control-expose-headers"))).toEqual(
      expect.arrayContaining(["grpc-status", "grpc-message", "x-request-id"]),
    );
    // The page may see its fetches' network timing (the SDK's clock stamps its pings by it).
    expect(res.headers.get("timing-allow-origin")).toBe(APP);
    expect(await res.json()).toMatchObject({ token: expect.any(String) });
  });

  it("lets an allowed page use gRPC-Web", async () => {
    const client = createClient(ClockService, createGrpcWebTransport({ baseUrl: gw, httpVersion: "1.1" }));
    let headers: Headers | undefined;
    const pong = await client.ping({ clientSendTimeMs: Date.now() }, { headers: { origin: APP }, onHeader: (h) => (headers = h) });
    expect(pong.serverReceiveTimeMs).toBeGreaterThan(0);
    expect(headers?.get("access-control-allow-origin")).toBe(APP);
    expect(listed(headers?.get("access-control-expose-headers") ?? null)).toContain("grpc-status");
  });

  it("gives another origin's page no access, and requests without an origin no CORS fields", async () => {
    const login = (origin?: string) =>
      fetch(`${gw}/groovebox.auth.v1.AuthService/Login`, {
        method: "POST",
        headers: { ...(origin ? { origin } : {}), "content-type": "application/json" },
        body: JSON.stringify({ displayName: "Bob" }),
      });
    for (const res of [await login("https://elsewhere.example"), await login()]) {
      expect(res.status).toBe(200); // served; the browser keeps it from a page of another origin
      expect(res.headers.get("access-control-allow-origin")).toBeNull();
      expect(res.headers.get("access-control-expose-headers")).toBeNull();
      expect(res.headers.get("timing-allow-origin")).toBeNull();
    }
  });
});
