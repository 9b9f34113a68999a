import {
  defaultEstimatorOptions as opts,
  estimateClock,
  evaluateExchange,
  freshWindow,
  type ClockSampleValue,
} from "./estimator.js";

/** An exchange over a link with the given one-way delays, where server = client + offset. */
function exchange(clientSendMs: number, offsetMs: number, upMs: number, downMs: number, serverHoldMs = 0.2) {
  const t0 = clientSendMs;
  const t1 = t0 + offsetMs + upMs;
  const t2 = t1 + serverHoldMs;
  const t3 = t2 - offsetMs + downMs;
  return { t0, t1, t2, t3 };
}

function sample(times: ReturnType<typeof exchange>): ClockSampleValue {
  const value = evaluateExchange(times, opts);
  if (!value) throw new Error("expected a valid sample");
  return value;
}

describe("evaluateExchange", () => {
  it("recovers offset and round trip of a symmetric exchange exactly", () => {
    const s = sample(exchange(1000, 250, 10, 10));
    expect(s.rttMs).toBeCloseTo(20, 9);
    expect(s.offsetMs).toBeCloseTo(250, 9);
    expect(s.serverTimeMs).toBeCloseTo(1260, 9);
  });

  it("gives a positive offset when the server is ahead and a negative one when behind", () => {
    expect(sample(exchange(0, 5000, 3, 3)).offsetMs).toBeCloseTo(5000, 9);
    expect(sample(exchange(0, -5000, 3, 3)).offsetMs).toBeCloseTo(-5000, 9);
  });

  it("excludes the server's holding time from the round trip", () => {
    expect(sample(exchange(0, 0, 4, 6, 50)).rttMs).toBeCloseTo(10, 9);
  });

  it("errs by half the asymmetry of the link", () => {
    expect(sample(exchange(0, 100, 30, 10)).offsetMs).toBeCloseTo(100 + (30 - 10) / 2, 9);
  });

  it("keeps a sample of a millisecond client clock that reads a round trip just below zero", () => {
    // Client clock in whole ms: sent and received within the same ms, server held 0.3 ms.
    const s = evaluateExchange({ t0: 5000, t1: 5100.2, t2: 5100.5, t3: 5000 }, opts)!;
    expect(s.rttMs).toBe(0);
    expect(s.offsetMs).toBeCloseTo(100.35, 9);
  });

  it("rejects impossible exchanges", () => {
    expect(evaluateExchange({ t0: 0, t1: 10, t2: 5, t3: 20 }, opts)).toBeUndefined(); // t2 < t1
    expect(evaluateExchange({ t0: 100, t1: 10, t2: 11, t3: 50 }, opts)).toBeUndefined(); // rtt < 0
    expect(evaluateExchange({ t0: 0, t1: NaN, t2: 1, t3: 2 }, opts)).toBeUndefined();
    expect(evaluateExchange({ t0: 0, t1: Infinity, t2: Infinity, t3: 2 }, opts)).toBeUndefined();
    expect(evaluateExchange(exchange(0, 0, opts.maxRttMs, 1), opts)).toBeUndefined();
  });
});

describe("estimateClock", () => {
  it("keeps the min-RTT sample, not the last one", () => {
    const samples = [
      sample(exchange(0, 100, 20, 20)),
      sample(exchange(1000, 100, 2, 2)), // the best
      sample(exchange(2000, 100, 50, 5)), // delayed and asymmetric, and the newest
    ];
    const est = estimateClock(samples, 2200, opts)!;
    expect(est.rttMs).toBeCloseTo(4, 6);
    expect(est.offsetMs).toBeCloseTo(100, 6);
    expect(est.sampleTimeMs).toBeCloseTo(samples[1]!.serverTimeMs, 9);
    expect(est.lastSampleTimeMs).toBeCloseTo(samples[2]!.serverTimeMs, 9);
    expect(est.sampleCount).toBe(3);
  });

  it("is not moved by outliers with huge, one-sided delays", () => {
    const good = [0, 1000, 2000].map((t) => sample(exchange(t, -40, 5, 5)));
    const outliers = [3000, 4000].map((t) => sample(exchange(t, -40, 900, 3)));
    const est = estimateClock([...good, ...outliers], 4500, opts)!;
    expect(est.offsetMs).toBeCloseTo(-40, 6);
    expect(est.rttMs).toBeCloseTo(10, 6);
  });

  it("reports the median round trip as the typical one", () => {
    const samples = [10, 30, 20, 400].map((d, i) => sample(exchange(i * 1000, 0, d / 2, d / 2, 0)));
    expect(estimateClock(samples, 4000, opts)!.typicalRttMs).toBeCloseTo(25, 6);
  });

  it("prefers the newer of two equally good samples", () => {
    const samples = [sample(exchange(0, 10, 3, 3)), sample(exchange(1000, 12, 3, 3))];
    expect(estimateClock(samples, 1500, opts)!.offsetMs).toBeCloseTo(12, 6);
  });

  it("lets old samples expire from the window", () => {
    const old = sample(exchange(0, 500, 1, 1)); // the best, but old
    const recent = sample(exchange(opts.maxSampleAgeMs + 10_000, 510, 8, 8));
    const now = opts.maxSampleAgeMs + 10_100;
    const est = estimateClock([old, recent], now, opts)!;
    expect(est.offsetMs).toBeCloseTo(510, 6);
    expect(est.sampleCount).toBe(1);
    expect(estimateClock([old], now, opts)).toBeUndefined();
  });

  it("keeps at most windowSize samples, dropping the oldest", () => {
    const small = { ...opts, windowSize: 3 };
    const samples = [1, 2, 3, 4, 5].map((i) => sample(exchange(i * 100, i, 1, 1)));
    expect(freshWindow(samples, 600, small).map((s) => Math.round(s.offsetMs))).toEqual([3, 4, 5]);
    expect(estimateClock(samples, 600, small)!.sampleCount).toBe(3);
  });

  it("has no estimate without samples", () => {
    expect(estimateClock([], 0, opts)).toBeUndefined();
  });
});
