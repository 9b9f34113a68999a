import { ClockFilter, evaluateSample, type ClockSample } from "./clock-filter.js";
import { ClockModel } from "./clock-model.js";

/**
 * A simulated exchange: the device's clock reads server time - trueOffset(t) (drifting), the
 * request takes `up` ms and the answer `down` ms, the server turns it around in 0.05 ms.
 */
function exchange(serverT1: number, up: number, down: number, trueOffset: (serverMs: number) => number): ClockSample {
  const t1 = serverT1;
  const t2 = t1 + 0.05;
  const t0 = t1 - up - trueOffset(t1 - up);
  const t3 = t2 + down - trueOffset(t2 + down);
  return { t0, t1, t2, t3 };
}

/** A deterministic pseudo-random sequence in [0, 1). */
function lcg(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x / 2 ** 31;
  };
}

const T = 1_800_000_000_000;

describe("evaluateSample", () => {
  it("computes NTP's round trip and offset", () => {
    const s = { t0: 1000, t1: 1510, t2: 1511, t3: 1021 };
    expect(evaluateSample(s)).toEqual({ rttMs: 20, offsetMs: 500, localMs: 1010.5 });
  });

  it("rejects samples that cannot be right", () => {
    expect(evaluateSample({ t0: 10, t1: 5, t2: 4, t3: 20 })).toBeUndefined(); // t2 before t1
    expect(evaluateSample({ t0: 10, t1: 5, t2: 50, t3: 20 })).toBeUndefined(); // negative round trip
    expect(evaluateSample({ t0: NaN, t1: 5, t2: 6, t3: 20 })).toBeUndefined();
    expect(evaluateSample({ t0: 0, t1: 5, t2: 6, t3: 20_000 }, 10_000)).toBeUndefined(); // too slow
  });
});

describe("ClockFilter", () => {
  it("keeps the min-RTT sample, not the last one", () => {
    const filter = new ClockFilter();
    const offset = () => 5000;
    // Queueing on the way up makes a sample's offset wrong by half of it.
    filter.add(exchange(T, 30, 10, offset));
    filter.add(exchange(T + 100, 10, 10, offset)); // the truthful one
    filter.add(exchange(T + 200, 10, 50, offset));
    const fit = filter.fit()!;
    expect(fit.rttMs).toBeCloseTo(20, 6);
    expect(fit.offsetMs).toBeCloseTo(5000, 6);
  });

  it("fits drift from minutes of jittered samples", () => {
    const random = lcg(7);
    const driftPpm = 80;
    // The device runs 80 ppm slow: the offset grows by 0.08 ms per second.
    const offset = (s: number) => -3210.5 + driftPpm * 1e-6 * (s - T);
    const filter = new ClockFilter();
    for (let i = 0; i < 300; i++) {
      const jitter = () => 20 + (random() < 0.7 ? random() * 2 : random() * 60);
      filter.add(exchange(T + i * 2000, jitter(), jitter(), offset));
    }
    const fit = filter.fit()!;
    expect(fit.driftPpm).toBeGreaterThan(driftPpm - 5);
    expect(fit.driftPpm).toBeLessThan(driftPpm + 5);
    // The offset at the newest sample, and 10 s beyond it by the fitted drift.
    const model = new ClockModel();
    model.update(fit, fit.refLocalMs);
    for (const ahead of [0, 10_000]) {
      const local = fit.refLocalMs + ahead;
      const server = model.serverAt(local);
      // The device's clock reads server - offset(server): check server time against the truth.
      expect(Math.abs(server - offset(server) - local)).toBeLessThan(1);
    }
    expect(fit.errorMs).toBeGreaterThan(0);
    expect(fit.errorMs).toBeLessThan(2);
  });

  it("ignores outliers: a group whose best sample still queued long", () => {
    const filter = new ClockFilter({ groupSize: 2 });
    const offset = () => 100;
    for (let i = 0; i < 20; i++) filter.add(exchange(T + i * 1000, 5, 5, offset));
    // Two samples, one group, both delayed on the way up by 40 ms: their offsets are 20 ms off.
    filter.add(exchange(T + 21_000, 45, 5, offset));
    filter.add(exchange(T + 22_000, 45, 5, offset));
    expect(filter.fit()!.offsetMs).toBeCloseTo(100, 3);
  });

  it("rejects invalid samples without changing the estimate", () => {
    const filter = new ClockFilter();
    filter.add(exchange(T, 10, 10, () => 42));
    const before = filter.fit();
    expect(filter.add({ t0: 0, t1: 10, t2: 5, t3: 20 })).toBe(false);
    expect(filter.fit()).toEqual(before);
  });

  it("forgets samples beyond its window", () => {
    const filter = new ClockFilter({ windowMs: 60_000 });
    for (let i = 0; i < 100; i++) filter.add(exchange(T + i * 1000, 10, 10, () => 0));
    expect(filter.fit()!.sampleCount).toBe(61);
  });
});

describe("ClockModel: bounded steps", () => {
  const fit = (offsetMs: number) => ({
    offsetMs,
    driftPpm: 0,
    refLocalMs: 0,
    rttMs: 10,
    errorMs: 0.1,
    driftErrorPpm: 1,
    sampleCount: 8,
    chosenCount: 1,
  });

  it("takes forward steps and small backward steps at once", () => {
    const m = new ClockModel({ maxBackwardStepMs: 1, slewPpm: 1000, resetStepMs: 1000 });
    m.update(fit(100), 0);
    expect(m.update(fit(105), 1000)).toBeCloseTo(5);
    expect(m.update(fit(104.5), 2000)).toBeCloseTo(-0.5);
    expect(m.serverAt(2000)).toBeCloseTo(2104.5);
  });

  it("slews a larger backward correction: one step, then at slewPpm", () => {
    const m = new ClockModel({ maxBackwardStepMs: 1, slewPpm: 1000, resetStepMs: 1000 });
    m.update(fit(100), 0);
    expect(m.update(fit(90), 10_000)).toBeCloseTo(-1);
    expect(m.serverAt(10_000)).toBeCloseTo(10_099);
    // 1000 ppm: 1 ms per second of the remaining 9 ms.
    expect(m.serverAt(14_000)).toBeCloseTo(14_095);
    expect(m.serverAt(19_000)).toBeCloseTo(19_090);
    expect(m.serverAt(30_000)).toBeCloseTo(30_090);
    // Time never runs backwards while slewing.
    let last = -Infinity;
    for (let l = 9_000; l < 21_000; l += 7) {
      const s = m.serverAt(l);
      expect(s).toBeGreaterThan(last);
      last = s;
    }
    // toLocal inverts it.
    expect(m.localAt(m.serverAt(12_345.6))).toBeCloseTo(12_345.6, 6);
  });

  it("takes a change beyond the reset step at once (the device's clock was set)", () => {
    const m = new ClockModel({ maxBackwardStepMs: 1, slewPpm: 1000, resetStepMs: 1000 });
    m.update(fit(100), 0);
    expect(m.update(fit(-5000), 1000)).toBeCloseTo(-5100);
  });
});
