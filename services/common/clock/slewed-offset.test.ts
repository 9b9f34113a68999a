import { createSlewedOffset } from "./slewed-offset.js";

const opts = { maxSlewRate: 1 / 12, stepThresholdMs: 1000 };

describe("createSlewedOffset", () => {
  it("slews a small correction at the bounded rate, continuously", () => {
    const off = createSlewedOffset(100, opts);
    expect(off.correct(100.6, 1000)).toEqual({ deltaMs: expect.closeTo(0.6, 9), stepped: false });
    expect(off.at(1000)).toBe(100); // no jump at the correction
    expect(off.at(1006)).toBeCloseTo(100.5, 9); // 6 ms at 1/12
    expect(off.at(1007.2)).toBeCloseTo(100.6, 9); // arrived
    expect(off.at(5000)).toBeCloseTo(100.6, 9);
  });

  it("slews backwards no faster than the rate, so time still moves forward", () => {
    const off = createSlewedOffset(0, opts);
    off.correct(-0.9, 0);
    let prev = -Infinity;
    for (let mono = 0; mono <= 20; mono += 0.01) {
      const t = mono + off.at(mono);
      expect(t).toBeGreaterThan(prev);
      prev = t;
    }
    expect(off.at(20)).toBeCloseTo(-0.9, 9);
  });

  it("starts a new correction from where the last one had got to", () => {
    const off = createSlewedOffset(0, opts);
    off.correct(1, 0);
    expect(off.at(6)).toBeCloseTo(0.5, 9);
    expect(off.correct(0.2, 6).deltaMs).toBeCloseTo(-0.3, 9);
    expect(off.at(6)).toBeCloseTo(0.5, 9);
    expect(off.at(9.6)).toBeCloseTo(0.2, 9);
  });

  it("steps a correction beyond the threshold", () => {
    const off = createSlewedOffset(0, opts);
    expect(off.correct(-5000, 10)).toEqual({ deltaMs: -5000, stepped: true });
    expect(off.at(10)).toBe(-5000);
  });

  it("refuses a rate that could turn time back", () => {
    expect(() => createSlewedOffset(0, { ...opts, maxSlewRate: 1 })).toThrow(RangeError);
  });
});
