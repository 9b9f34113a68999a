import { createServer, connect, type Server, type Socket } from "node:net";
import { DelayModel, NO_DELAY, seededRandom, startDelayProxy, type DelayProxy, type LinkProfile } from "./delay-proxy.js";

const profile = (p: Partial<LinkProfile>): LinkProfile => ({ ...NO_DELAY, ...p });

describe("DelayModel", () => {
  it("adds the asymmetry to the upstream direction only", () => {
    const p = profile({ baseDelayMs: 10, asymmetryMs: 4 });
    expect(new DelayModel(() => p, "up", seededRandom(1), 0).delayAt(0)).toBe(14);
    expect(new DelayModel(() => p, "down", seededRandom(1), 0).delayAt(0)).toBe(10);
  });

  it("draws heavy-tailed jitter around its median, capped", () => {
    const p = profile({ baseDelayMs: 5, jitterMedianMs: 2, jitterShape: 1.5, jitterMaxMs: 100 });
    const model = new DelayModel(() => p, "down", seededRandom(3), 0);
    const extra = Array.from({ length: 20_000 }, () => model.delayAt(0) - 5).sort((a, b) => a - b);
    expect(extra[0]).toBeGreaterThanOrEqual(0);
    expect(extra[10_000]).toBeGreaterThan(1.8);
    expect(extra[10_000]).toBeLessThan(2.2);
    // A heavy tail: the p99 is far beyond twice the median, and the cap holds.
    expect(extra[19_800]).toBeGreaterThan(20);
    expect(extra[19_999]).toBeLessThanOrEqual(100);
  });

  it("has spikes of 50-200 ms extra, about as often as configured", () => {
    const p = profile({ baseDelayMs: 10, spikesPerMinute: 6, spikeDurationMs: 500 });
    const model = new DelayModel(() => p, "up", seededRandom(9), 0);
    let spiked = 0;
    for (let t = 0; t < 600_000; t += 10) {
      const extra = model.delayAt(t) - 10;
      if (extra > 0) {
        expect(extra).toBeGreaterThanOrEqual(50);
        expect(extra).toBeLessThanOrEqual(200);
        spiked += 10;
      }
    }
    // 60 spikes of 500 ms in 10 minutes, half of them in this direction: about 15 s.
    expect(spiked).toBeGreaterThan(5_000);
    expect(spiked).toBeLessThan(30_000);
  });
});

describe("startDelayProxy", () => {
  let echo: Server;
  let echoPort: number;
  let proxy: DelayProxy;

  beforeAll(async () => {
    echo = createServer((s) => {
      s.on("error", () => {}); // the proxy cuts connections on purpose
      s.pipe(s);
    });
    await new Promise<void>((r) => echo.listen(0, "127.0.0.1", r));
    echoPort = (echo.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((r) => echo.close(() => r())));
  afterEach(() => proxy.close());

  const open = (port: number) =>
    new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: "127.0.0.1", port }, () => resolve(s));
      s.once("error", reject);
    });

  /** Sends one byte and resolves with the round trip (ms). */
  const roundTrip = (s: Socket) =>
    new Promise<number>((resolve) => {
      const t0 = performance.now();
      s.once("data", () => resolve(performance.now() - t0));
      s.write("x");
    });

  it("delays each direction: the round trip is at least twice the base delay plus the asymmetry", async () => {
    proxy = await startDelayProxy({ target: { host: "127.0.0.1", port: echoPort }, profile: profile({ baseDelayMs: 15, asymmetryMs: 6 }) });
    const s = await open(proxy.port);
    const rtt = await roundTrip(s);
    expect(rtt).toBeGreaterThanOrEqual(36 - 1); // timers may fire up to 1 ms early in ms rounding
    s.destroy();
  });

  it("keeps the order of the chunks in each direction despite jitter", async () => {
    proxy = await startDelayProxy({
      target: { host: "127.0.0.1", port: echoPort },
      profile: profile({ baseDelayMs: 1, jitterMedianMs: 3, jitterShape: 1.2, jitterMaxMs: 30 }),
      seed: 5,
    });
    const s = await open(proxy.port);
    let received = "";
    const expected = Array.from({ length: 200 }, (_, i) => `${i};`).join("");
    const done = new Promise<void>((resolve) =>
      s.on("data", (d) => {
        received += d.toString();
        if (received.length >= expected.length) resolve();
      }),
    );
    for (let i = 0; i < 200; i++) {
      s.write(`${i};`);
      await new Promise((r) => setImmediate(r)); // separate chunks
    }
    await done;
    expect(received).toBe(expected);
    s.destroy();
  });

  it("cuts every connection on demand", async () => {
    proxy = await startDelayProxy({ target: { host: "127.0.0.1", port: echoPort }, profile: NO_DELAY });
    const s = await open(proxy.port);
    await roundTrip(s);
    expect(proxy.connections).toBe(1);
    const closed = new Promise((r) => s.once("close", r));
    s.on("error", () => {});
    proxy.dropConnections();
    await closed;
    expect(proxy.connections).toBe(0);
  });
});
