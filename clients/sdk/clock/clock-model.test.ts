import { ClockModel } from "./clock-model.js";

describe("ClockModel: bounded steps", () => {
  const fit = (offsetMs: number) => ({ offsetMs, driftPpm: 0, referenceTimeMs: 0 });

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

  it("by default steps back at once for what the playback tiers would seek for, and slews what they would nudge", () => {
    const m = new ClockModel();
    m.update(fit(100), 0);
    expect(m.update(fit(0), 1000)).toBeCloseTo(-100); // a start whose first pings all queued
    expect(m.update(fit(-30), 2000)).toBeCloseTo(-1); // 30 ms: slewed in at 0.5 %
    expect(m.pendingSlewMs(2000)).toBeCloseTo(29);
    expect(m.pendingSlewMs(7800)).toBeCloseTo(0);
  });
});
