import * as http2 from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { ClientMessageSchema } from "../gen/groovebox/gateway/v1/gateway_pb.js";
import { login } from "./support/stream-client.js";
import { startStack, type Stack } from "./support/stack.js";

/**
 * A gRPC Connect stream that sends `count` requests in one write and reads everything the
 * server sends; resolves with the call's grpc-status and grpc-message.
 */
function flood(baseUrl: string, token: string, count: number): Promise<{ status: string; message: string }> {
  const session = http2.connect(baseUrl);
  const frames = Array.from({ length: count }, (_, i) => {
    const body = toBinary(ClientMessageSchema, create(ClientMessageSchema, { requestId: `r${i}`, message: { case: "getRoomState", value: {} } }));
    const frame = Buffer.alloc(5 + body.length);
    frame.writeUInt32BE(body.length, 1);
    frame.set(body, 5);
    return frame;
  });
  const req = session.request({
    ":method": "POST",
    ":path": "/groovebox.gateway.v1.GatewayService/Connect",
    "content-type": "application/grpc+proto",
    te: "trailers",
    authorization: `Bearer ${token}`,
  });
  req.write(Buffer.concat(frames));
  req.on("data", () => undefined); // the client reads as fast as it can
  return new Promise((resolve) => {
    let status = "";
    let message = "";
    req.on("response", (h) => h["grpc-status"] !== undefined && (status = String(h["grpc-status"])));
    req.on("trailers", (t) => {
      status = String(t["grpc-status"]);
      message = decodeURIComponent(String(t["grpc-message"] ?? ""));
    });
    req.on("error", () => undefined);
    req.on("close", () => {
      session.close();
      resolve({ status, message });
    });
  });
}

describe("a client flooding requests on a gRPC stream while it reads", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ gateway: { outboundCapacity: 32, maxPendingRequests: 4 } });
  });
  afterAll(() => stack.stop());

  it("is told there are too many requests in progress, not that it reads too slowly", async () => {
    const gw = stack.gatewayUrls[0]!;
    const { token } = await login(gw, "Ada");
    const { status, message } = await flood(gw, token, 2000);
    expect(status).toBe("8"); // RESOURCE_EXHAUSTED
    expect(message).toMatch(/^too many requests in progress on this stream \(at most 4\)/);
    expect(message).not.toMatch(/slow/);
  });
});
