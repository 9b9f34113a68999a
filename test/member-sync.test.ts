import { Code, createClient } from "@connectrpc/connect";
import { CorrectionTier } from "../gen/groovebox/clock/v1/clock_pb.js";
import { RoomService, type MemberSync } from "../gen/groovebox/room/v1/room_pb.js";
import { connectGroovebox, type GrooveboxClient, type NodeClientOptions } from "../clients/sdk/node.js";
import { startStack, type Stack } from "./support/stack.js";
import { bearer, grpcTransport } from "./support/stream-client.js";

/** Resolves with the next member_sync_changed a client sees for `userId`. */
function nextSyncChange(client: GrooveboxClient, userId: string): Promise<MemberSync> {
  return new Promise((resolve) => {
    const off = client.on("event", (m) => {
      if (m.message.case !== "memberSyncChanged" || m.message.value.userId !== userId) return;
      off();
      resolve(m.message.value.sync!);
    });
  });
}

describe("members' sync quality in the room", () => {
  let stack: Stack;
  let gateway: string;
  const clients: GrooveboxClient[] = [];

  beforeAll(async () => {
    stack = await startStack();
    gateway = stack.gatewayUrls[0]!;
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(() => stack.stop());

  async function device(name: string, extra: Partial<NodeClientOptions> = {}) {
    const client = await connectGroovebox({ baseUrl: gateway, displayName: name, reportIntervalMs: 0, ...extra });
    clients.push(client);
    return client;
  }

  it("puts each member's latest sync_report in room_state and announces it to the room", async () => {
    const dj = await device("DJ");
    const room = await dj.createRoom();
    const guest = await device("Guest", { deviceId: "guest-phone", outputLatencyMs: 35 });
    await guest.joinRoom(room.roomCode);
    const announced = nextSyncChange(dj, guest.userId);
    guest.sendReport(); // on the stream
    const sync = await announced;
    expect(sync.report).toMatchObject({ deviceId: "guest-phone", outputLatencyMs: 35, correctionTier: CorrectionTier.IDLE });
    expect(sync.report!.rttMs).toBeGreaterThanOrEqual(0);
    expect(sync.report!.errorBoundMs).toBeGreaterThan(0);
    // The DJ's view follows the event; a fresh room_state has it too.
    expect(dj.room!.members.find((m) => m.userId === guest.userId)!.sync!.report!.deviceId).toBe("guest-phone");
    const rooms = createClient(RoomService, grpcTransport(gateway));
    const { state } = await rooms.getRoomState({ roomId: room.roomId }, bearer(dj.token));
    const member = state!.members.find((m) => m.userId === guest.userId)!;
    expect(member.sync!.report!.outputLatencyMs).toBe(35);
    expect(member.sync!.reportedAtTimeMs).toBeGreaterThan(0);
  });

  it("reports over unary calls (browsers), announced only when they change materially", async () => {
    const dj = await device("DJ");
    const room = await dj.createRoom();
    const rooms = createClient(RoomService, grpcTransport(gateway));
    const report = { offsetMs: 10, rttMs: 30, outputLatencyMs: 20, driftPpm: 5, playbackErrorMs: 0, errorBoundMs: 0.5, correctionTier: CorrectionTier.IN_SYNC, deviceId: "tab-1" };
    const auth = bearer(dj.token);
    expect((await rooms.reportSync({ roomId: room.roomId, report }, auth)).announced).toBe(true);
    expect((await rooms.reportSync({ roomId: room.roomId, report: { ...report, offsetMs: 10.4 } }, auth)).announced).toBe(false);
    expect((await rooms.reportSync({ roomId: room.roomId, report: { ...report, correctionTier: CorrectionTier.NUDGE } }, auth)).announced).toBe(true);
    // Bad input changes nothing and says why.
    await expect(rooms.reportSync({ roomId: room.roomId, report: { ...report, rttMs: NaN } }, auth)).rejects.toMatchObject({ code: Code.InvalidArgument });
    await expect(rooms.reportSync({ roomId: room.roomId }, auth)).rejects.toMatchObject({ code: Code.InvalidArgument });
    await expect(rooms.reportSync({ roomId: "nope", report }, auth)).rejects.toMatchObject({ code: Code.NotFound });
    const stranger = await device("Stranger");
    await expect(rooms.reportSync({ roomId: room.roomId, report }, bearer(stranger.token))).rejects.toMatchObject({ code: Code.PermissionDenied });
    const { state } = await rooms.getRoomState({ roomId: room.roomId }, auth);
    expect(state!.members[0]!.sync!.report!.correctionTier).toBe(CorrectionTier.NUDGE);
  });

  it("sends the browser path's reports with unary calls from the SDK", async () => {
    const dj = await device("DJ");
    const room = await dj.createRoom();
    const tab = await device("Tab", { mode: "unary", deviceId: "tab-2", outputLatencyMs: 12 });
    await tab.joinRoom(room.roomCode);
    const announced = nextSyncChange(dj, tab.userId);
    tab.sendReport();
    expect((await announced).report!.deviceId).toBe("tab-2");
  });

  it("remembers a device's output latency for its user across reconnects", async () => {
    const first = await device("Ada", { deviceId: "earbuds", outputLatencyMs: 180 });
    const room = await first.createRoom();
    const announced = nextSyncChange(first, first.userId);
    first.sendReport();
    await announced;
    first.close();
    // The app restarts: same user, same device id, no latency given.
    const again = await device("Ada", { token: first.token, deviceId: "earbuds" });
    expect(again.playback.outputLatencyMs).toBe(180);
    await again.joinRoom(room.roomCode);
    // Another device of the user has nothing remembered.
    const other = await device("Ada", { token: first.token, deviceId: "laptop" });
    expect(other.playback.outputLatencyMs).toBe(0);
    const rooms = createClient(RoomService, grpcTransport(gateway));
    await expect(rooms.getDevice({ deviceId: "laptop" }, bearer(first.token))).rejects.toMatchObject({ code: Code.NotFound });
  });
});
