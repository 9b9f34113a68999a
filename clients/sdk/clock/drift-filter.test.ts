import { defaultDriftFilterOptions as opts, offsetAt, predict, startFilter, updateFilter, type DriftState } from "./drift-filter.js";

const clean = (t: number, offsetMs: number) => ({ timeMs: t, offsetMs, rttMs: 20 });

/** A filter that has seen `n` clean samples every 2 s of a device drifting `drift`. */
function trained(n: number, drift: number): DriftState {
  let s = startFilter(clean(0, 10), 20, opts);
  for (let i = 1; i < n; i++) s = updateFilter(s, clean(i * 2000, 10 + drift * i * 2000), 20, opts);
  return s;
}

describe("the drift filter", () => {
  it("grows its uncertainty as it predicts further ahead, and never goes back in time", () => {
    const s = trained(50, 30e-6);
    const later = predict(s, s.referenceTimeMs + 60_000, opts);
    expect(later.pOO).toBeGreaterThan(s.pOO);
    expect(later.offsetMs).toBeCloseTo(s.offsetMs + s.drift * 60_000, 9);
    expect(predict(s, s.referenceTimeMs - 1000, opts)).toBe(s);
  });

  it("extrapolates backwards along the same line", () => {
    const s = trained(50, 30e-6);
    const back = offsetAt(s, s.referenceTimeMs - 10_000, opts);
    expect(back.offsetMs).toBeCloseTo(s.offsetMs - s.drift * 10_000, 9);
    expect(back.sigmaMs).toBeGreaterThan(Math.sqrt(s.pOO) * 0.5);
  });

  it("learns the drift from clean samples", () => {
    expect(trained(100, -75e-6).drift).toBeCloseTo(-75e-6, 7);
  });

  it("skips one clean sample far off, and restarts after several in a row", () => {
    const s = trained(50, 0);
    const t = s.referenceTimeMs + 2000;
    const once = updateFilter(s, clean(t, 60), 20, opts);
    expect(once.offsetMs).toBeCloseTo(10, 6);
    expect(once.surprises).toBe(1);
    const twice = updateFilter(once, clean(t + 2000, 60), 20, opts);
    const thrice = updateFilter(twice, clean(t + 4000, 60), 20, opts);
    expect(thrice).toMatchObject({ offsetMs: 60, drift: 0, surprises: 0, startTimeMs: t + 4000 });
  });

  it("takes nothing from a sample that queued more than maxQueueMs, however many come", () => {
    let s = trained(50, 0);
    for (let i = 1; i <= 300; i++) s = updateFilter(s, { timeMs: s.referenceTimeMs + 1000, offsetMs: 10 - (opts.maxQueueMs + 1) / 2, rttMs: 20 + opts.maxQueueMs + 1 }, 20, opts);
    expect(s.offsetMs).toBeCloseTo(10, 9);
    expect(s.drift).toBeCloseTo(0, 12);
    expect(s.pOO).toBeGreaterThan(trained(50, 0).pOO); // only predicted forward: less sure, not misled
  });

  it("gives a far-off sample that queued long no weight, and no surprise", () => {
    const s = trained(50, 0);
    const queued = updateFilter(s, { timeMs: s.referenceTimeMs + 2000, offsetMs: 400, rttMs: 1000 }, 20, opts);
    expect(queued.offsetMs).toBeCloseTo(10, 3);
    expect(queued.surprises).toBe(0);
  });
});
