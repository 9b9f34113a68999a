import { ClockSync } from "./clock-sync.js";

/** A device clock that moves only when told to: off by `offsetMs` and running `driftPpm` fast against the server's. */
function deviceClock(offsetMs: number, driftPpm: number) {
  let server = 1_800_000_000_000;
  const local = (s: number) => s - offsetMs + driftPpm * 1e-6 * (s - 1_800_000_000_000);
  return {
    clock: { now: () => local(server) },
    local,
    get serverNow() {
      return server;
    },
    advance(ms: number) {
      server += ms;
    },
  };
}

/** A deterministic source in [0, 1). */
function seeded(seed: number) {
  let a = seed;
  return () => ((a = (Math.imul(a, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

describe("ClockSync: the shared filter on the device's axis", () => {
  it("tracks a drifting device's server time within a fraction of a ms, never stepping back more than allowed", () => {
    const dev = deviceClock(-7_300, 90);
    const sync = new ClockSync(dev.clock, { maxBackwardStepMs: 1 });
    const random = seeded(3);
    let steps = 0;
    const errors: number[] = [];
    for (let i = 0; i < 600; i++) {
      // A 40 ms link with heavy upstream or downstream queueing now and then.
      const up = 20 + (random() < 0.2 ? random() * 40 : random() * 0.5);
      const down = 20 + (random() < 0.2 ? random() * 40 : random() * 0.5);
      const t0 = dev.clock.now();
      dev.advance(up);
      const t1 = dev.serverNow;
      const t2 = t1 + 0.05;
      dev.advance(0.05 + down);
      const t3 = dev.clock.now();
      const before = i >= 8 ? sync.toServer(t3) : undefined;
      sync.addSample({ t0, t1, t2, t3 });
      // Once the burst is in, a new sample never moves the device's idea of "now" back by more than maxBackwardStepMs.
      if (before !== undefined) {
        const step = sync.toServer(t3) - before;
        expect(step).toBeGreaterThan(-1.0001);
        if (Math.abs(step) > 1e-9) steps++;
      }
      dev.advance(1000 - up - down - 0.05);
      if (i >= 60) errors.push(Math.abs(sync.serverNow() - dev.serverNow));
    }
    expect(steps).toBeGreaterThan(0);
    expect(Math.max(...errors)).toBeLessThan(0.5);
    expect(sync.estimate()!.driftPpm).toBeCloseTo(-90, 0);
    expect(Math.abs(sync.toLocal(dev.serverNow + 5000) - dev.local(dev.serverNow + 5000))).toBeLessThan(0.5);
  });

  it("holds server time through two minutes in which every answer queues, its error bound above its error", () => {
    const dev = deviceClock(4_200, -60);
    const sync = new ClockSync(dev.clock);
    const random = seeded(9);
    const exchange = (downQueueMs: number) => {
      const t0 = dev.clock.now();
      dev.advance(15 + random() * 0.3);
      const t1 = dev.serverNow;
      dev.advance(0.05 + 15 + random() * 0.3 + downQueueMs);
      sync.addSample({ t0, t1, t2: t1 + 0.05, t3: dev.clock.now() });
    };
    for (let i = 0; i < 300; i++) {
      exchange(0);
      dev.advance(970);
    }
    // A device busy for two minutes: every answer read 60-90 ms late (an event loop that stalls, a download's queue).
    for (let i = 0; i < 120; i++) {
      exchange(60 + random() * 30);
      const error = Math.abs(sync.serverNow() - dev.serverNow);
      expect(error).toBeLessThan(0.3);
      expect(sync.estimate()!.errorBoundMs).toBeGreaterThan(error);
      dev.advance(900);
    }
  });

  it("claims no less than its error when every answer of the first seconds was read late (a busy main thread), and follows the first prompt one", () => {
    const dev = deviceClock(3_100, 0);
    const sync = new ClockSync(dev.clock);
    const random = seeded(21);
    let prompt = -1;
    for (let i = 0; i < 60; i++) {
      // Read 25-60 ms late: every answer for the first 24 pings, then most of them.
      const late = i < 24 || random() < 0.7;
      if (!late && prompt < 0) prompt = i;
      const t0 = dev.clock.now();
      dev.advance(1);
      const t1 = dev.serverNow;
      dev.advance(0.05 + 1 + (late ? 25 + random() * 35 : 0));
      sync.addSample({ t0, t1, t2: t1 + 0.05, t3: dev.clock.now() });
      if (sync.synced) {
        const error = Math.abs(sync.serverNow() - dev.serverNow);
        const claim = sync.estimate()!;
        expect(error).toBeLessThanOrEqual(claim.errorBoundMs + claim.rttMs / 2);
        if (prompt >= 0) expect(error).toBeLessThan(1.1);
      }
      dev.advance(i < 8 ? 40 : 250);
    }
    expect(prompt).toBeGreaterThan(0);
  });

  it("recovers at once from a start whose first pings all queued (a busy gateway), instead of slewing for seconds", () => {
    const dev = deviceClock(-2_000, 40);
    const sync = new ClockSync(dev.clock);
    const exchange = (upQueueMs: number) => {
      const t0 = dev.clock.now();
      dev.advance(20 + upQueueMs);
      const t1 = dev.serverNow;
      dev.advance(20.05);
      sync.addSample({ t0, t1, t2: t1 + 0.05, t3: dev.clock.now() });
      dev.advance(250);
    };
    // The burst: every ping waited 200 ms for the gateway, so every sample says the server is 100 ms ahead.
    for (let i = 0; i < 8; i++) exchange(200);
    expect(sync.serverNow() - dev.serverNow).toBeGreaterThan(90);
    for (let i = 0; i < 20; i++) exchange(0);
    expect(Math.abs(sync.serverNow() - dev.serverNow)).toBeLessThan(1);
  });

  it("pings in a burst, then every settleIntervalMs while the filter is young, then every intervalMs", async () => {
    jest.useFakeTimers({ now: 1_800_000_000_000 });
    try {
      const clock = { now: () => Date.now() + 0.5 }; // a device 0.5 ms behind the server, on a link of no delay
      const sync = new ClockSync(clock, { burstCount: 8, burstIntervalMs: 40, settleIntervalMs: 250, settleForMs: 60_000, intervalMs: 1000 });
      const sent: number[] = [];
      sync.start(async (t0) => {
        sent.push(t0);
        return { t0, t1: t0 - 0.5, t2: t0 - 0.5, t3: t0 };
      });
      await jest.advanceTimersByTimeAsync(300);
      expect(sent).toHaveLength(9); // the burst, and the first periodic ping at 250 ms
      await jest.advanceTimersByTimeAsync(59_700);
      expect(sent.length).toBeGreaterThanOrEqual(8 + 239);
      const before = sent.length;
      await jest.advanceTimersByTimeAsync(60_000);
      expect(sent.length - before).toBeGreaterThanOrEqual(59);
      expect(sent.length - before).toBeLessThanOrEqual(61);
      sync.stop();
      await jest.advanceTimersByTimeAsync(10_000);
      expect(sent.length - before).toBeLessThanOrEqual(61);
    } finally {
      jest.useRealTimers();
    }
  });

  it("is synchronised after samplesToSync samples, and ignores samples that cannot be right", () => {
    const dev = deviceClock(100, 0);
    const sync = new ClockSync(dev.clock, { samplesToSync: 2 });
    sync.addSample({ t0: 10, t1: 5, t2: 4, t3: 20 }); // the server answered before it received
    expect(sync.synced).toBe(false);
    for (let i = 0; i < 2; i++) {
      const t0 = dev.clock.now();
      dev.advance(10);
      const t1 = dev.serverNow;
      dev.advance(10);
      sync.addSample({ t0, t1, t2: t1, t3: dev.clock.now() });
    }
    expect(sync.synced).toBe(true);
    expect(sync.serverNow()).toBeCloseTo(dev.serverNow, 6);
  });
});
