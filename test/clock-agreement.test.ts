import { createClient } from "@connectrpc/connect";
import { ClockService } from "../gen/groovebox/clock/v1/clock_pb.js";
import { createHostClock } from "../services/common/clock/host-clock.js";
import { measurePeerOffsets, type PingFn } from "../services/clock/peer-offset.js";
import { eventually, WAIT_MS } from "./support/eventually.js";
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
    stack = await startStack({ clock: host, roomsClock: { now: () => host.now() + SKEW_MS }, gateway: { clockCheckMs: 500, clockCheckRounds: 2 } }); // soon, and short: a check of 10 rounds took 20 s at load 20
  });
  afterAll(async () => {
    await stack.stop();
    host.stop();
  });

  /** The longest round trip any ping of the test saw (server time taken out), ms. */
  let maxRttMs = 0;
  const clientNow = () => performance.timeOrigin + performance.now();
  const pinger = (url: string): PingFn => {
    const client = createClient(ClockService, grpcTransport(url));
    return async (clientSendTimeMs) => {
      const res = await client.ping({ clientSendTimeMs });
      maxRttMs = Math.max(maxRttMs, clientNow() - clientSendTimeMs - (res.serverSendTimeMs - res.serverReceiveTimeMs));
      return res;
    };
  };

  it("finds each service's offset from the gateway with min-RTT Ping bursts", async () => {
    const results = await measurePeerOffsets({
      reference: pinger(stack.gatewayUrls[0]!),
      targets: { clock: pinger(stack.clockUrl), rooms: pinger(stack.roomsUrl), playback: pinger(stack.playbackUrl) },
      now: clientNow,
      rounds: 6,
      pingsPerBurst: 4,
    });
    // A ping's offset errs by at most half its round trip; a target's offset is its burst's
    // minus the mean of two reference bursts', so it errs by at most the longest round trip
    // seen (about a millisecond here, more on a busy machine). 1 ms more for the clocks'
    // slewing between the bursts.
    const bound = maxRttMs + 1;
    expect(Math.abs(results.clock.offsetMs)).toBeLessThanOrEqual(bound);
    expect(Math.abs(results.playback.offsetMs)).toBeLessThanOrEqual(bound);
    expect(Math.abs(results.rooms.offsetMs - SKEW_MS)).toBeLessThanOrEqual(bound);
    expect(results.rooms).toMatchObject({ rounds: 6, roundsUsed: 3 });
  });

  it("publishes the gateway's view of the other services' clocks on /metrics", async () => {
    const gauge = async () => {
      const text = await (await fetch(`${stack.operatorUrls.gateways[0]}/metrics`)).text();
      const value = (name: string, peer: string) => /-?[\d.e+-]+$/.exec(text.split("\n").find((l) => l.startsWith(`${name}{peer="${peer}"`)) ?? "")?.[0];
      const read = (peer: string) => {
        const [offset, error] = ["groovebox_clock_peer_offset_ms", "groovebox_clock_peer_offset_error_ms"].map((name) => value(name, peer));
        return offset && error ? { offset: Number(offset), error: Number(error) } : undefined;
      };
      const [clock, rooms, playback] = ["clock", "rooms", "playback"].map(read);
      return clock && rooms && playback ? { clock, rooms, playback } : undefined;
    };
    const peers = (await eventually(gauge, WAIT_MS, "the peer clock gauge"))!;
    // The gateway's own measurement, with its own round trips: within the error bound it
    // publishes beside it (how long its pings queued on this machine decides that bound, not
    // the test), 1 ms more for the clocks' slewing.
    expect(Math.abs(peers.rooms.offset - SKEW_MS)).toBeLessThanOrEqual(peers.rooms.error + 1);
    expect(Math.abs(peers.clock.offset)).toBeLessThanOrEqual(peers.clock.error + 1);
    expect(Math.abs(peers.playback.offset)).toBeLessThanOrEqual(peers.playback.error + 1);
  });
});
