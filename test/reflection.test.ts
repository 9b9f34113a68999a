import { execFile, spawn } from "node:child_process";
import { resolve } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { ServerReflection, type ServerReflectionResponse } from "../gen/grpc/reflection/v1/reflection_pb.js";
import { eventually } from "./support/eventually.js";
import { startStack, type Stack } from "./support/stack.js";
import { grpcTransport, login } from "./support/stream-client.js";

const BUF = resolve("node_modules/.bin/buf");

/** Runs `buf curl` (HTTP/2 without TLS, reflection unless told otherwise) and answers its output and exit code. */
function bufCurl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(BUF, ["curl", "--http2-prior-knowledge", ...args], { timeout: 15_000 }, (err, stdout, stderr) => {
      done({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const PUBLIC_SERVICES = [
  "groovebox.auth.v1.AuthService",
  "groovebox.clock.v1.ClockService",
  "groovebox.gateway.v1.GatewayService",
  "groovebox.playback.v1.PlaybackService",
  "groovebox.room.v1.RoomService",
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
];

describe("server reflection on the gateway's public port", () => {
  let stack: Stack;
  let gw: string;
  beforeAll(async () => {
    stack = await startStack();
    gw = stack.gatewayUrls[0]!;
  });
  afterAll(() => stack.stop());

  it.each(["grpc-v1", "grpc-v1alpha"])("lists only the public services and their methods (%s)", async (protocol) => {
    const services = await bufCurl(["--reflect-protocol", protocol, "--list-services", gw]);
    expect(services.stderr).toBe("");
    expect(services.stdout.trim().split("\n").sort()).toEqual(PUBLIC_SERVICES);

    const methods = await bufCurl(["--reflect-protocol", protocol, "--list-methods", gw]);
    expect(methods.code).toBe(0);
    const lines = methods.stdout.trim().split("\n");
    expect(lines).toEqual(
      expect.arrayContaining([
        "groovebox.auth.v1.AuthService/Login",
        "groovebox.clock.v1.ClockService/Ping",
        "groovebox.gateway.v1.GatewayService/Connect",
        "groovebox.gateway.v1.GatewayService/Subscribe",
        "groovebox.playback.v1.PlaybackService/Start",
        "groovebox.room.v1.RoomService/CreateRoom",
        "grpc.health.v1.Health/Check",
      ]),
    );
    expect(methods.stdout).not.toMatch(/PresenceService|ClockSampleService|AttachSession|RecordSamples/);
  });

  it.each(["connect", "grpc"])("lets buf curl call methods without --schema (%s)", async (protocol) => {
    const login = await bufCurl(["--protocol", protocol, "--data", '{"display_name": "Ada"}', `${gw}/groovebox.auth.v1.AuthService/Login`]);
    expect(login).toMatchObject({ code: 0, stderr: "" });
    const { token, userId } = JSON.parse(login.stdout) as { token: string; userId: string };
    const created = await bufCurl([
      "--protocol",
      protocol,
      "-H",
      `Authorization: Bearer ${token}`,
      "--data",
      '{"name": "Friday"}',
      `${gw}/groovebox.room.v1.RoomService/CreateRoom`,
    ]);
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ state: { name: "Friday", currentDjId: userId } });
  });

  it("describes a public service's file without the internal services beside it", async () => {
    const client = createClient(ServerReflection, grpcTransport(gw));
    const ask = (symbol: string) => ({ host: "", messageRequest: { case: "fileContainingSymbol" as const, value: symbol } });
    const answers: ServerReflectionResponse[] = [];
    for await (const res of client.serverReflectionInfo(
      (async function* () {
        yield ask("groovebox.room.v1.RoomService.JoinRoom");
        yield ask("groovebox.playback.v1.PlaybackService");
        yield ask("groovebox.room.v1.PresenceService");
        yield ask("no.such.Symbol");
      })(),
    )) {
      answers.push(res);
    }
    expect(answers).toHaveLength(4);
    const files = (i: number) => {
      const r = answers[i]!.messageResponse;
      if (r.case !== "fileDescriptorResponse") throw new Error(`answer ${i}: ${r.case}`);
      return r.value.fileDescriptorProto.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
    };
    const room = files(0);
    expect(room.map((f) => f.name)).toEqual([
      "groovebox/room/v1/room.proto",
      "groovebox/clock/v1/clock.proto",
      "groovebox/playback/v1/playback.proto",
    ]);
    expect(room[0]!.service.map((s) => s.name)).toEqual(["RoomService"]);
    // clock.proto comes for its SyncReport (members' sync), without the internal ClockSampleService.
    expect(room[1]!.service.map((s) => s.name)).toEqual(["ClockService"]);
    expect(room[0]!.messageType.map((m) => m.name)).toContain("RoomState");
    // playback.proto went with room.proto on this stream: asked for itself, it comes alone.
    expect(files(1).map((f) => f.name)).toEqual(["groovebox/playback/v1/playback.proto"]);
    for (const i of [2, 3]) {
      expect(answers[i]!.messageResponse).toMatchObject({ case: "errorResponse", value: { errorCode: 5 } });
    }
    expect(answers[3]!.originalRequest).toMatchObject({ messageRequest: { case: "fileContainingSymbol", value: "no.such.Symbol" } });
  });

  it.each(["grpc", "connect"])("lets the gateway stop at once while buf curl holds its reflection stream and a call (%s)", async (protocol) => {
    // A stop that waited for these streams would wait out the grace period, longer than the test may run.
    const own = await startStack({ shutdownGraceMs: 60_000 });
    const url = own.gatewayUrls[0]!;
    const { token } = await login(url, "Ada");
    const args = ["curl", "--http2-prior-knowledge", "--protocol", protocol, "-H", `Authorization: Bearer ${token}`, "--data", "@-"];
    // Its input stays open, as when a person types into it.
    const curl = spawn(BUF, [...args, `${url}/groovebox.gateway.v1.GatewayService/Connect`], { stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    curl.stdout.on("data", (d: Buffer) => (output += d.toString()));
    curl.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((done) => curl.once("exit", done));
    curl.stdin.write('{"ping": {"seq": "1", "client_send_time_ms": 1764000000000}}\n');
    await eventually(async () => (output.includes("pong") ? true : undefined));

    await own.stop();
    curl.stdin.end();
    expect(await exited).not.toBe(0);
    expect(output).toMatch(/unavailable/);
  });
});
