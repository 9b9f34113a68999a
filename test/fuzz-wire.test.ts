import { randomBytes } from "node:crypto";
import { create, fromBinary, toBinary, ScalarType, type DescField, type DescMessage, type DescMethod } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import fc from "fast-check";
import { AuthService } from "../gen/groovebox/auth/v1/auth_pb.js";
import { ClockService } from "../gen/groovebox/clock/v1/clock_pb.js";
import { GatewayService } from "../gen/groovebox/gateway/v1/gateway_pb.js";
import { PlaybackService } from "../gen/groovebox/playback/v1/playback_pb.js";
import { RoomService } from "../gen/groovebox/room/v1/room_pb.js";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { ServerReflection } from "../gen/grpc/reflection/v1/reflection_pb.js";
import { roomKeys } from "../services/common/keys.js";
import type { RedisClient } from "../services/common/redis.js";
import { guest, joinOnStream } from "./support/rooms-client.js";
import { createRawClient, envelope, type RawOutcome, type WireProtocol } from "./support/raw-rpc.js";
import { startServiceProcess, type ServiceProcess } from "./support/service-process.js";
import { inspectRedis, startStack, testRedisTarget, type Stack } from "./support/stack.js";

/**
 * Generated bad input on every public method of the gateway's port, over gRPC, gRPC-Web and
 * Connect, through both stream paths (the gateway's own gRPC path and connect-es): wrong wire
 * types, truncated, oversized and garbage messages, envelope flags, extra and missing
 * messages, NaN / infinite / huge numbers, control, bidi and invisible characters, with the
 * room's ids among the strings, sent with the token of a member of the room (a request that got
 * through could leave the room or change the member's sync report). Each call must end with a
 * code of the allowed set (never INTERNAL, UNKNOWN, UNIMPLEMENTED or a deadline; never OK for a
 * body that is not exactly the method's messages), a call that failed must leave the room and
 * its playback as they were, and the gateway process must be alive at the end. Nothing a member
 * can do changes the room later by itself (the DJ's commands are tested in contract-bounds),
 * so the room is compared right after each call.
 *
 * Seeded: FUZZ_SEED replays a run (the seed is printed; fast-check prints the failing case and
 * its replay path); FUZZ_RUNS sets the number of cases.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20261125);
const RUNS = Number(process.env.FUZZ_RUNS ?? 250);
const MAX_MESSAGE_BYTES = 64 * 1024;

/** Every public method (Health/Watch is left out: a good request keeps it open for as long as the client wants). */
const methods: DescMethod[] = [AuthService, RoomService, PlaybackService, GatewayService, ClockService, Health, ServerReflection]
  .flatMap((s) => s.methods)
  .filter((m) => m !== Health.method.watch);

/** Codes a client may get for a request the service could decode (domain answers and limits). */
const ANSWERS: ReadonlySet<Code | 0> = new Set([
  0,
  Code.InvalidArgument,
  Code.NotFound,
  Code.PermissionDenied,
  Code.FailedPrecondition,
  Code.AlreadyExists,
  Code.Aborted,
  Code.ResourceExhausted,
]);
/** Codes for a body that is not exactly the method's messages. */
const REFUSALS: ReadonlySet<Code | 0> = new Set([Code.InvalidArgument, Code.ResourceExhausted]);

const nastyText = (known: string[]) =>
  fc.oneof(
    fc.constantFrom(...known, "", " ", "\u202Eevil", "a\u200Bb", "\u2066x\u2069", "\u0000", "\u0007\u001b[2J", "\uFEFF", "\u3164", "\uD800", "👩‍🚀", "x".repeat(70)),
    fc.string({ unit: "binary", maxLength: 24 }),
    fc.string({ unit: fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)), maxLength: 8 }),
  );

const nastyDouble = fc.oneof(
  fc.constantFrom(NaN, Infinity, -Infinity, 1e308, -1, -0, 5e-324, 86_400_001, 8.64e15 + 1, 1_764_000_000_000, 1000),
  fc.double(),
);

const nastyUint64 = fc.oneof(fc.constantFrom(0n, 1n, 2n ** 63n, 2n ** 64n - 1n), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }));

/** A value for a scalar field, chosen from the troublesome ones for its type. */
function scalarValue(field: DescField & { fieldKind: "scalar" }, known: string[]): fc.Arbitrary<unknown> {
  switch (field.scalar) {
    case ScalarType.STRING:
      return nastyText(known);
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return nastyDouble;
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return nastyUint64;
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.BYTES:
      return fc.uint8Array({ maxLength: 16 });
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return fc.integer({ min: 0, max: 2 ** 32 - 1 });
    default:
      return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
  }
}

/** A message of `schema` with troublesome values in some of its fields (nested messages a level deep). */
function nastyMessage(schema: DescMessage, known: string[], depth = 0): fc.Arbitrary<Record<string, unknown>> {
  const parts: Record<string, fc.Arbitrary<unknown>> = {};
  for (const field of schema.fields) {
    if (field.oneof) continue;
    const value = fieldValue(field, known, depth);
    if (value) parts[field.localName] = value;
  }
  for (const oneof of schema.oneofs) {
    const choices = oneof.fields.map((f) => fieldValue(f, known, depth)?.map((value) => ({ case: f.localName, value })) ?? fc.constant(undefined));
    parts[oneof.localName] = fc.oneof(...choices, fc.constant({ case: undefined }));
  }
  return fc.record(parts, { requiredKeys: [] });
}

function fieldValue(field: DescField, known: string[], depth: number): fc.Arbitrary<unknown> | undefined {
  if (field.fieldKind === "scalar") return scalarValue(field, known);
  if (field.fieldKind === "enum") return fc.integer({ min: -1, max: 99 });
  if (field.fieldKind === "message") return depth < 2 ? nastyMessage(field.message, known, depth + 1) : undefined;
  if (field.fieldKind === "list" && field.listKind === "scalar") return fc.array(scalarValue({ ...field, fieldKind: "scalar" } as never, known), { maxLength: 3 });
  return undefined;
}

/** What happens to the encoded message, and then to its envelope. */
type Mutation =
  | { kind: "none" }
  | { kind: "truncate"; at: number }
  | { kind: "flip"; at: number; byte: number }
  | { kind: "wireType"; wireType: number }
  | { kind: "garbage"; bytes: Uint8Array }
  | { kind: "huge" };
type Framing =
  | { kind: "one" }
  | { kind: "flags"; flags: number }
  | { kind: "lengthLies"; delta: number }
  | { kind: "repeat"; times: number }
  | { kind: "none" }
  | { kind: "partialHeader" }
  | { kind: "abandon" };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ kind: "none" as const }) },
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat(64) }),
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(64), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("wireType" as const), wireType: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant("garbage" as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 32 }) }),
  fc.constant({ kind: "huge" as const }),
);
const framing: fc.Arbitrary<Framing> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: "one" as const }) },
  fc.record({ kind: fc.constant("flags" as const), flags: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant("lengthLies" as const), delta: fc.integer({ min: -4, max: 2 ** 31 }).filter((d) => d !== 0) }),
  fc.record({ kind: fc.constant("repeat" as const), times: fc.integer({ min: 2, max: 3 }) }),
  fc.constant({ kind: "none" as const }),
  fc.constant({ kind: "partialHeader" as const }),
  fc.constant({ kind: "abandon" as const }),
);

function mutate(bytes: Uint8Array, m: Mutation): Uint8Array {
  switch (m.kind) {
    case "none":
      return bytes;
    case "truncate":
      return bytes.subarray(0, Math.min(m.at, Math.max(0, bytes.length - 1)));
    case "flip": {
      if (bytes.length === 0) return Uint8Array.of(m.byte);
      const out = Uint8Array.from(bytes);
      out[m.at % out.length] = m.byte;
      return out;
    }
    case "wireType": {
      if (bytes.length === 0) return Uint8Array.of(0x08 | m.wireType);
      const out = Uint8Array.from(bytes);
      out[0] = (out[0]! & ~7) | m.wireType;
      return out;
    }
    case "garbage":
      return m.bytes;
    case "huge":
      return Buffer.alloc(MAX_MESSAGE_BYTES + 1, 0x0a);
  }
}

/** The request body, and whether it is exactly the messages the method takes (each decoding). */
function body(method: DescMethod, payload: Uint8Array, f: Framing, bare: boolean): { bytes: Uint8Array; wellFormed: boolean } {
  const decodes = (() => {
    try {
      fromBinary(method.input, payload);
      return payload.length <= MAX_MESSAGE_BYTES;
    } catch {
      return false;
    }
  })();
  if (bare) return { bytes: payload, wellFormed: decodes };
  const oneMessage = method.methodKind === "unary" || method.methodKind === "server_streaming";
  switch (f.kind) {
    case "one":
      return { bytes: envelope(payload), wellFormed: decodes };
    case "flags":
      return { bytes: envelope(payload, f.flags), wellFormed: false };
    case "lengthLies": {
      // Shorter: the rest is read as the next envelope; longer: the body ends inside the message.
      const length = Math.max(0, payload.length + f.delta);
      return { bytes: envelope(payload, 0, length), wellFormed: length === payload.length && decodes };
    }
    case "repeat":
      return { bytes: Buffer.concat(Array.from({ length: f.times }, () => envelope(payload))), wellFormed: decodes && !oneMessage };
    case "none":
      return { bytes: Buffer.alloc(0), wellFormed: !oneMessage };
    case "partialHeader":
      return { bytes: envelope(payload).subarray(0, 3), wellFormed: false };
    case "abandon":
      // The client resets the call after its first message, whatever the server was doing.
      return { bytes: envelope(payload), wellFormed: false };
  }
}

describe("fuzz: malformed requests on every public method, every protocol", () => {
  const secret = randomBytes(32).toString("hex");
  let stack: Stack;
  let gateway: ServiceProcess;
  let raw: ReturnType<typeof createRawClient>;
  let token: string;
  let known: string[];
  let snapshot: () => Promise<string>;
  let redis: RedisClient;

  beforeAll(async () => {
    process.stdout.write(`fuzz seed ${SEED}, ${RUNS} cases (replay with FUZZ_SEED=${SEED})\n`);
    stack = await startStack({ jwtSecret: secret, gateways: 0 });
    const target = testRedisTarget();
    gateway = await startServiceProcess(
      "gateway",
      { portVar: "GATEWAY_PORT", operatorPortVar: "GATEWAY_OPERATOR_PORT" },
      {
        JWT_SECRET: secret,
        REDIS_URL: target.url,
        REDIS_CLUSTER_NODES: target.clusterNodes.map(({ host, port }) => `${host}:${port}`).join(","),
        CLOCK_URL: stack.clockUrl,
        ROOMS_URL: stack.roomsUrl,
        PLAYBACK_URL: stack.playbackUrl,
        GATEWAY_MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES),
        GATEWAY_LOGIN_RATE_PER_ADDRESS: "100000/1s",
        GATEWAY_LOGIN_RATE: "100000/1s",
      },
    );
    const dj = await guest(gateway.url, "Ada");
    const room = (await dj.rooms.createRoom({ name: "fuzz" }, dj.auth)).state!;
    const stream = await dj.connect();
    await joinOnStream(stream, room.roomCode);
    await dj.playback.start({ roomId: room.roomId, trackId: "track-1", trackDurationMs: 3_600_000 }, dj.auth);
    const member = await guest(gateway.url, "Bob");
    await member.rooms.joinRoom({ roomCode: room.roomCode }, member.auth);
    token = member.token;
    // Not the room code: a join by code is not a malformed request, and would change the room.
    known = [room.roomId, dj.userId, member.userId, "track-1"];
    // The room and its playback as stored: any change to the room's members, DJ, name or
    // timeline bumps its event sequence or changes these keys.
    redis = inspectRedis();
    const keys = [roomKeys.seq, roomKeys.meta, roomKeys.currentDj, roomKeys.playback].map((key) => key(room.roomId));
    snapshot = async () => {
      const results = (await redis.pipeline(keys.map((key) => ["dump", key])).exec())!;
      return results.map(([err, value]: [Error | null, unknown]) => (err ? `error ${err.message}` : value === null ? "none" : (value as Buffer).toString("hex"))).join(",");
    };
    raw = createRawClient(gateway.url);
  }, 120_000);

  afterAll(async () => {
    raw?.close();
    redis?.disconnect();
    await gateway?.stop();
    await stack?.stop();
  });

  it("answers every case with an allowed code, changes nothing on a refusal, and stays up", async () => {
    const seen: Record<WireProtocol, Record<string, number>> = { grpc: {}, "grpc-web": {}, connect: {} };
    let state = await snapshot();
    // Each method's message arbitrary is built once: built anew for every case, they took
    // 1.5-3.5 s of a run's 6-10 s of cases.
    const messages = new Map(methods.map((method) => [method, nastyMessage(method.input, known)]));
    const arbitrary = fc
      .record({ protocol: fc.constantFrom<WireProtocol>("grpc", "grpc-web", "connect"), method: fc.constantFrom(...methods) })
      .chain(({ protocol, method }) =>
        fc.record({
          protocol: fc.constant(protocol),
          method: fc.constant(method),
          message: messages.get(method)!,
          mutation,
          framing,
        }),
      );
    await fc.assert(
      fc.asyncProperty(arbitrary, async (c) => {
        const bare = c.protocol === "connect" && c.method.methodKind === "unary";
        const payload = mutate(toBinary(c.method.input, create(c.method.input, c.message as never)), c.mutation);
        const { bytes, wellFormed } = body(c.method, payload, c.framing, bare);
        const abandon = c.framing.kind === "abandon";
        const out: RawOutcome = await raw.call({
          path: `/${c.method.parent.typeName}/${c.method.name}`,
          protocol: c.protocol,
          streaming: !bare,
          body: bytes,
          headers: { authorization: `Bearer ${token}` },
          abandon,
          // A good Subscribe of the member's room stays open once it has sent hello and the room.
          openAfterMessages: c.method === GatewayService.method.subscribe ? 2 : undefined,
          waitMs: 15_000,
        });
        const code = out.code === "open" ? "open" : out.code === 0 ? "OK" : Code[out.code];
        seen[c.protocol][code] = (seen[c.protocol][code] ?? 0) + 1;
        const openIsAnswer = wellFormed && c.method === GatewayService.method.subscribe;
        // An abandoned call has no answer to judge: what counts is that nothing changed and the gateway lives.
        const allowed = abandon || (out.code === "open" ? openIsAnswer : (wellFormed ? ANSWERS : REFUSALS).has(out.code));
        if (!allowed) throw new Error(`${code} (${out.message}) for a ${wellFormed ? "well-formed" : "malformed"} request`);
        const now = await snapshot();
        if ((abandon || out.code !== 0) && now !== state) throw new Error(`a refused request (${code}) changed the room or its playback`);
        state = now;
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
    process.stdout.write(`fuzz: ${RUNS} cases, codes per protocol ${JSON.stringify(seen)}\n`);
    expect(gateway.child.exitCode).toBeNull();
    expect((await fetch(`${gateway.operatorUrl}/healthz`)).ok).toBe(true);
  }, 240_000);
});
