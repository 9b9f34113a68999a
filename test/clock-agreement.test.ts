import { createClient } from "@connectrpc/connect";
import { ClockService } from "../gen/groovebox/clock/v1/clock_pb.js";
import { createHostClock } from "../services/common/clock/host-clock.js";
import { measurePeerOffsets, type PingFn } from "../services/clock/peer-offset.js";
import { eventually } from "./support/eventually.js";
import { startStack, type Stack } from "./support/stack.js";
import { grpcTransport } from "./support/stream-client.js";

/**
 * The services' clocks measured against each other over real HTTP/2, as `npm run clock:check`
 * and the gateway's gauge do. The rooms service runs 50 ms ahead here, so the measurement has
 * something to find; the others share the host clock.
 */
describe("clock agreement between services", () => {
  const host = createHostClock();
  const SKEW_MS = 50;
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ clock: host, roomsClock: { now: () => host.now() + SKEW_MS }, gateway: { clockCheckMs: 500 } }); // checks again soon if one fails on a busy machine
  });
  afterAll(async () => {
    await stack.stop();
    host.stop();
  });

  const pinger = (url: string): PingFn => {
    const client = createClient(ClockService, grpcTransport(url));
    return (clientSendTimeMs) => client.ping({ clientSendTimeMs });
  };

  it("finds each service's offset from the gateway with min-RTT Ping bursts", async () => {
    const results = await measurePeerOffsets({
      reference: pinger(stack.gatewayUrls[0]!),
      targets: { clock: pinger(stack.clockUrl), rooms: pinger(stack.roomsUrl), playback: pinger(stack.playbackUrl) },
      now: () => performance.timeOrigin + performance.now(),
      rounds: 6,
      pingsPerBurst: 4,
    });
    // A measured offset errs by at most half the round trips behind it: well under 5 ms here.
    expect(Math.abs(results.clock.offsetMs)).toBeLessThan(5);
    expect(Math.abs(results.playback.offsetMs)).toBeLessThan(5);
    expect(Math.abs(results.rooms.offsetMs - SKEW_MS)).toBeLessThan(5);
    expect(results.rooms).toMatchObject({ rounds: 6, roundsUsed: 3 });
  });

  it("publishes the gateway's view of the other services' clocks on /metrics", async () => {
    const gauge = async () => {
      const text = await (await fetch(`${stack.operatorUrls.gateways[0]}/metrics`)).text();
      const value = (peer: string) => /-?[\d.e+-]+$/.exec(text.split("\n").find((l) => l.startsWith(`groovebox_clock_peer_offset_ms{peer="${peer}"`)) ?? "")?.[0];
      const [clock, rooms, playback] = ["clock", "rooms", "playback"].map(value);
      return clock && rooms && playback ? { clock: Number(clock), rooms: Number(rooms), playback: Number(playback) } : undefined;
    };
    const offsets = (await eventually(gauge, 15_000, "the peer clock gauge"))!;
    expect(offsets.rooms).toBeGreaterThan(SKEW_MS - 5);
    expect(offsets.rooms).toBeLessThan(SKEW_MS + 5);
    expect(Math.abs(offsets.clock)).toBeLessThan(5);
    expect(Math.abs(offsets.playback)).toBeLessThan(5);
  });
});
