import * as http2 from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { fromBinary } from "@bufbuild/protobuf";
import { ClientMessageSchema, ErrorCode, ServerMessageSchema, type ServerMessage } from "../gen/groovebox/gateway/v1/gateway_pb.js";
import { login } from "./support/stream-client.js";
import { startStack, type Stack } from "./support/stack.js";

/**
 * A gRPC Connect stream that sends `count` requests in one write, reads everything the server
 * sends, and ends its side once it has `expectAnswers` answers (or keeps it open); resolves
 * with the call's grpc-status, grpc-message and the messages received.
 */
function flood(
  baseUrl: string,
  token: string,
  count: number,
  expectAnswers = Infinity,
): Promise<{ status: string; message: string; received: ServerMessage[] }> {
  const session = http2.connect(baseUrl);
  const frame = (msg: Parameters<typeof create<typeof ClientMessageSchema>>[1]) => {
    const body = toBinary(ClientMessageSchema, create(ClientMessageSchema, msg));
    const out = Buffer.alloc(5 + body.length);
    out.writeUInt32BE(body.length, 1);
    out.set(body, 5);
    return out;
  };
  const req = session.request({
    ":method": "POST",
    ":path": "/groovebox.gateway.v1.GatewayService/Connect",
    "content-type": "application/grpc+proto",
    te: "trailers",
    authorization: `Bearer ${token}`,
  });
  req.write(Buffer.concat(Array.from({ length: count }, (_, i) => frame({ requestId: `r${i}`, message: { case: "getRoomState", value: {} } }))));
  const received: ServerMessage[] = [];
  let pending = Buffer.alloc(0);
  // The client reads as fast as it can.
  req.on("data", (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
      const length = pending.readUInt32BE(1);
      received.push(fromBinary(ServerMessageSchema, pending.subarray(5, 5 + length)));
      pending = pending.subarray(5 + length);
    }
    if (received.filter((m) => m.requestId !== "").length >= expectAnswers) req.end();
  });
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
      resolve({ status, message, received });
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

describe("a client flooding requests on a stream through connect-es while it reads", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ gateway: { grpcFastPath: false, outboundCapacity: 32, maxPendingRequests: 4 } });
  });
  afterAll(() => stack.stop());

  it("gets every request answered, the ones beyond the limit refused as too many in progress, and the stream goes on", async () => {
    const gw = stack.gatewayUrls[0]!;
    const { token } = await login(gw, "Ada");
    // connect-es hands the stream its messages one at a time: the gateway reads no further
    // while the answers wait to be written, so the flood is slowed down, not buffered.
    const { status, message, received } = await flood(gw, token, 2000, 2000);
    expect({ status, message }).toEqual({ status: "0", message: "" });
    const answers = received.filter((m) => m.requestId !== "");
    expect(answers).toHaveLength(2000);
    const refused = answers.filter((m) => m.message.case === "error" && m.message.value.code === ErrorCode.RESOURCE_EXHAUSTED);
    for (const m of refused) expect(m.message.case === "error" && m.message.value.message).toMatch(/^too many requests in progress/);
    // The others were answered by the rooms logic: this stream is in no room.
    expect(answers.length - refused.length).toBeGreaterThan(0);
  });
});
