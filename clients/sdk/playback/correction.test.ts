import { decideCorrection, DEFAULT_CORRECTION_OPTIONS as opts } from "./correction.js";

describe("decideCorrection", () => {
  it("ignores errors below the ignore threshold", () => {
    expect(decideCorrection(0.4, opts)).toEqual({ tier: "in-sync", nudge: 0 });
    expect(decideCorrection(-0.99, opts)).toEqual({ tier: "in-sync", nudge: 0 });
  });

  it("nudges medium errors against their sign, within the rate bounds", () => {
    const ahead = decideCorrection(1.5, opts);
    expect(ahead.tier).toBe("nudge");
    expect(ahead.nudge).toBeCloseTo(-opts.minNudge); // 1.5 ms / 2 s is below the smallest nudge
    const behind = decideCorrection(-6, opts);
    expect(behind.nudge).toBeCloseTo(0.003); // 6 ms over 2 s
    expect(decideCorrection(39, opts).nudge).toBeCloseTo(-opts.maxNudge);
  });

  it("seeks beyond the seek threshold", () => {
    expect(decideCorrection(40.5, opts)).toEqual({ tier: "seek", nudge: 0 });
    expect(decideCorrection(-300, opts).tier).toBe("seek");
  });

  it("keeps nudging until the error is below half the ignore threshold", () => {
    expect(decideCorrection(0.8, opts, "nudge").tier).toBe("nudge");
    expect(decideCorrection(0.4, opts, "nudge").tier).toBe("in-sync");
    expect(decideCorrection(0.8, opts, "in-sync").tier).toBe("in-sync");
  });

  it("follows configured thresholds", () => {
    const custom = { ...opts, ignoreMs: 5, seekMs: 100 };
    expect(decideCorrection(4, custom).tier).toBe("in-sync");
    expect(decideCorrection(80, custom).tier).toBe("nudge");
  });
});
