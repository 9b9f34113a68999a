import { Code, ConnectError } from "@connectrpc/connect";
import { nodeEnvironment, type Channel, type GrooveboxClient, type PlaybackUpdate } from "../clients/sdk/node.js";
import { browserEnvironment } from "../clients/sdk/browser.js";
import { GrooveboxClient as Client, type ClientEnvironment, type GrooveboxClientOptions } from "../clients/sdk/client.js";
import { defaultDriftFilterOptions } from "../clients/sdk/clock/drift-filter.js";
import { NO_DELAY, startDelayProxy, type DelayProxy, type LinkProfile } from "../bench/delay-proxy.js";
import { SkewedClock } from "../bench/skewed-clock.js";
import { eventually } from "./support/eventually.js";
import { socketsTo } from "./support/open-handles.js";
import { startStack, type Stack } from "./support/stack.js";

/** A WAN-ish link: 10-25 ms each way, a little heavy-tailed jitter. */
const link = (baseDelayMs: number): LinkProfile => ({ ...NO_DELAY, baseDelayMs, jitterMedianMs: 0.5, jitterShape: 1.5, jitterMaxMs: 20 });

/** The clock filter's largest drift (defaultDriftFilterOptions.maxDrift). */
const MAX_DRIFT = defaultDriftFilterOptions.maxDrift;

/** Resolves with the next playback update that satisfies `match`. */
function nextUpdate(client: GrooveboxClient, match: (u: PlaybackUpdate) => boolean): Promise<PlaybackUpdate> {
  return new Promise((resolve) => {
    const off = client.playback.on("update", (u) => {
      if (!match(u)) return;
      off();
      resolve(u);
    });
  });
}

describe("the SDK against the real services, through delaying links", () => {
  let stack: Stack;
  const proxies: DelayProxy[] = [];
  const clients: GrooveboxClient[] = [];

  beforeAll(async () => {
    stack = await startStack();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await Promise.all(proxies.splice(0).map((p) => p.close()));
  });
  afterAll(() => stack.stop());

  /**
   * A device with its own clock (offset, drift) behind its own delaying link, synchronised.
   * `bound()` is how far its idea of server time can be off, by what its own pings saw: each
   * sample's offset is within half its round trip of the truth (causality), the filter's
   * estimate is a weighted mean of samples, and its drift (at most MAX_DRIFT) can carry it
   * further by that rate over the time since its first ping. On a loaded machine round trips
   * grow and so does the bound: the test proves the conversion, not the machine's speed.
   */
  async function device(
    name: string,
    clock: SkewedClock,
    profile: LinkProfile,
    mode: "stream" | "unary" | "browser" = "stream",
    options: Partial<GrooveboxClientOptions> = {},
  ) {
    const gateway = new URL(stack.gatewayUrls[0]!);
    const proxy = await startDelayProxy({ target: { host: gateway.hostname, port: Number(gateway.port) }, profile, seed: proxies.length + 1 });
    proxies.push(proxy);
    const baseUrl = `http://127.0.0.1:${proxy.port}`;
    let maxRttMs = 0;
    let firstPingAt: number | undefined;
    const env = mode === "browser" ? browserEnvironment({ baseUrl }) : nodeEnvironment({ baseUrl, mode });
    // Every ping of every connection, as the clock gets it.
    const observed: ClientEnvironment = {
      ...env,
      async channel(ctx) {
        const channel = await env.channel(ctx);
        const watched: Channel = Object.create(channel);
        watched.ping = async (t0) => {
          firstPingAt ??= t0;
          const answer = await channel.ping(t0);
          maxRttMs = Math.max(maxRttMs, answer.t3 - t0 - (answer.t2 - answer.t1));
          return answer;
        };
        return watched;
      },
    };
    const client = await Client.connect(observed, { displayName: name, clock, reportIntervalMs: 0, ...options });
    clients.push(client);
    await client.clock.whenSynced();
    const bound = () => maxRttMs / 2 + MAX_DRIFT * (clock.now() - firstPingAt!) + 0.1;
    return { client, clock, proxy, bound };
  }

  it("starts devices with skewed clocks (stream, unary and browser transports) at the room's instant, within what their pings can know", async () => {
    const dj = await device("DJ", new SkewedClock(7_300, 90), link(12));
    const room = await dj.client.createRoom("sync");
    const others = [
      await device("A", new SkewedClock(-9_100, -80), link(20), "stream"),
      await device("B", new SkewedClock(2_500, 40), link(8), "unary"),
      await device("C", new SkewedClock(-400, -100), link(15), "browser"),
    ];
    for (const o of others) await o.client.joinRoom(room.roomCode);
    const everyone = [dj, ...others];
    const starts = everyone.map((d) => nextUpdate(d.client, (u) => u.cause === "started" && u.start !== undefined));
    const state = await dj.client.start("song-1", { positionMs: 1000 });
    const updates = await Promise.all(starts);
    // Each device's start instant in true time: when its clock reads start.localTimeMs.
    const errors = updates.map((u, i) => everyone[i]!.clock.toTrue(u.start!.localTimeMs) - state.startAtServerTime);
    const bounds = everyone.map((d) => d.bound());
    for (const u of updates) expect(u.start!.positionMs).toBe(1000);
    errors.forEach((e, i) => expect(Math.abs(e)).toBeLessThanOrEqual(bounds[i]!));
  });

  it("sizes the start buffer for the room's output latencies: a 200 ms Bluetooth device's report adds 200 ms", async () => {
    const dj = await device("DJ", new SkewedClock(0, 0), link(2));
    const room = await dj.client.createRoom();
    // The device reports its latency as soon as it is in the room, not an interval later.
    const buds = await device("Buds", new SkewedClock(-2_000, 30), link(2), "stream", { outputLatencyMs: 200, reportIntervalMs: 600_000 });
    const reported = new Promise<void>((resolve) => {
      const off = dj.client.on("event", (m) => {
        if (m.message.case !== "memberSyncChanged" || m.message.value.sync?.report?.outputLatencyMs !== 200) return;
        off();
        resolve();
      });
    });
    await buds.client.joinRoom(room.roomCode);
    await reported;
    const started = nextUpdate(buds.client, (u) => u.cause === "started" && u.start !== undefined);
    const state = await dj.client.start("song-3");
    // The network's part (at least 100 ms), and the latency on top.
    expect(state.syncBufferMs).toBeGreaterThanOrEqual(300);
    // Buds feeds its first sample 200 ms (of its clock) before the room's start instant.
    // In true time: its clock moves with each sample after the start was scheduled, so the
    // start is checked against the truth, within the device's error bound, as the other starts are.
    const { start } = await started;
    const heardError = buds.clock.toTrue(start!.localTimeMs + 200) - state.startAtServerTime;
    expect(Math.abs(heardError)).toBeLessThanOrEqual(buds.bound());
  });

  it("puts a late joiner where the track is", async () => {
    const dj = await device("DJ", new SkewedClock(1_000, 0), link(5));
    const room = await dj.client.createRoom();
    const state = await dj.client.start("song-2", { positionMs: 20_000 });
    const late = await device("Late", new SkewedClock(-6_000, 60), link(25));
    const joined = nextUpdate(late.client, (u) => u.cause === "state" && u.start !== undefined);
    await late.client.joinRoom(room.roomCode);
    await joined;
    // Where the late device says the track is now, against the room's timeline in true time.
    const local = late.clock.now();
    const expected = state.anchorPositionMs + (late.clock.toTrue(local) - state.anchorTimeMs);
    expect(Math.abs(late.client.playback.positionAt(local)! - expected)).toBeLessThanOrEqual(late.bound());
  });

  /**
   * A device on a link that goes silent (no byte either way, sockets open): its HTTP/2
   * keepalive (100 ms here) gives up on the connection, and the session's own "PING timed out"
   * error comes only once its socket has closed, after the stream's failure has reached the
   * device. `react` is what the device does then.
   */
  async function silencedDevice(react: (client: GrooveboxClient, proxy: DelayProxy) => Promise<void>) {
    const gateway = new URL(stack.gatewayUrls[0]!);
    const proxy = await startDelayProxy({ target: { host: gateway.hostname, port: Number(gateway.port) }, profile: link(2) });
    proxies.push(proxy);
    // Keepalive PINGs often, but a timeout a loaded machine cannot reach while the link still
    // answers (100 ms did: a PING answered late ended the session while the room was made).
    const env = nodeEnvironment({ baseUrl: `http://127.0.0.1:${proxy.port}`, keepalive: { pingIntervalMs: 100, pingTimeoutMs: 2000 } });
    const client = await Client.connect(env, { displayName: "Silenced", reportIntervalMs: 0, reconnect: { initialMs: 1, maxMs: 50 } });
    clients.push(client);
    const room = await client.createRoom();
    proxy.setProfile({ ...link(2), baseDelayMs: 3_600_000 }); // an hour: never, for the test
    await react(client, proxy);
    return { client, proxy, room };
  }

  it("survives a keepalive timeout on a silent link when the app closes the client as it starts reconnecting: no unhandled error, no socket left", async () => {
    const { proxy } = await silencedDevice(
      (client) =>
        new Promise<void>((resolve) =>
          client.on("status", (s) => {
            if (s !== "reconnecting") return;
            client.close();
            resolve();
          }),
        ),
    );
    // Once the device's sockets are gone, the dead session has emitted its error (an uncaught
    // one would fail this test).
    await eventually(async () => (socketsTo(proxy.port).length === 0 ? true : undefined), 10_000, "the device's sockets closed");
  });

  it("survives keepalive timeouts while it keeps reconnecting over a silent link, and resumes once the link is back", async () => {
    const { client, proxy, room } = await silencedDevice(
      (c) =>
        new Promise<void>((resolve) => {
          let attempts = 0;
          c.on("status", (s) => {
            if (s === "reconnecting" && ++attempts === 3) resolve();
          });
        }),
    );
    const resumed = new Promise<void>((resolve) => client.on("room", () => resolve()));
    proxy.setProfile(link(2));
    await resumed;
    expect(client.status).toBe("connected");
    expect(client.room!.roomId).toBe(room.roomId);
    client.close();
    await eventually(async () => (socketsTo(proxy.port).length === 0 ? true : undefined), 10_000, "the device's sockets closed");
  });

  it("resumes a dropped connection: the device rejoins, once, and nobody sees it leave", async () => {
    const dj = await device("DJ", new SkewedClock(0, 0), link(2));
    const room = await dj.client.createRoom();
    const guest = await device("Guest", new SkewedClock(3_000, 20), link(2));
    await guest.client.joinRoom(room.roomCode);
    const seen: string[] = [];
    dj.client.on("event", (m) => {
      if (m.message.case === "memberLeft" || m.message.case === "memberJoined") seen.push(`${m.message.case}:${m.message.case === "memberLeft" ? m.message.value.userId : m.message.value.member?.userId}`);
    });
    const statuses: string[] = [];
    const reasons: Array<Code | undefined> = [];
    guest.client.on("status", (s, detail) => {
      statuses.push(s);
      if (s === "reconnecting") reasons.push(detail.error === undefined ? undefined : ConnectError.from(detail.error).code);
    });
    const resumed = new Promise<void>((resolve) => guest.client.on("room", () => resolve()));
    guest.proxy.dropConnections();
    await resumed;
    expect(statuses).toContain("reconnecting");
    // A lost connection is UNAVAILABLE, as gRPC clients report it (not CANCELLED or ABORTED "ECONNRESET").
    expect(reasons[0]).toBe(Code.Unavailable);
    expect(guest.client.status).toBe("connected");
    const members = guest.client.room!.members.filter((m) => m.userId === guest.client.userId);
    expect(members).toHaveLength(1);
    // The DJ's view, kept by events: the guest is still a member and never left. An event
    // after the drop (a start) shows the DJ's stream is current.
    const started = new Promise<void>((resolve) => {
      const off = dj.client.on("event", (m) => {
        if (m.message.case !== "playbackStarted") return;
        off();
        resolve();
      });
    });
    await dj.client.start("after-drop");
    await started;
    expect(dj.client.room!.members.filter((m) => m.userId === guest.client.userId)).toHaveLength(1);
    expect(seen.filter((s) => s.startsWith("memberLeft"))).toEqual([]);
  });
});
