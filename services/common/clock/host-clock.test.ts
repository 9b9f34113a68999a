import { SimulatedHost } from "../../../test/support/simulated-host.js";
import { createHostClock, defaultHostClockOptions, type AnchorReport, type HostClockOptions } from "./host-clock.js";

/** The resolution of an epoch time in ms as a double (0.24 µs). */
const ULP = 2 ** -12;

function hostClock(host: SimulatedHost, opts: Partial<HostClockOptions> = {}) {
  const reports: AnchorReport[] = [];
  const clock = createHostClock({
    ...defaultHostClockOptions,
    sources: host.sources,
    timers: host.timers,
    onAnchor: (r) => reports.push(r),
    ...opts,
  });
  return { clock, reports };
}

describe("the host clock", () => {
  it("reads the host's realtime clock to a microsecond from the start", () => {
    const host = new SimulatedHost();
    const { clock, reports } = hostClock(host);
    expect(reports).toHaveLength(1);
    expect(reports[0]!.edgesUsed).toBe(5);
    for (let i = 0; i < 100; i++) {
      host.t += 0.0371;
      expect(Math.abs(clock.now() - host.trueRealtime())).toBeLessThan(0.001);
    }
    clock.stop();
  });

  it("measures again every interval, in slices that leave the event loop free", () => {
    const host = new SimulatedHost();
    const { clock, reports } = hostClock(host, { reanchorIntervalMs: 10_000, sliceMs: 0.05 });
    host.advance(35_000);
    expect(reports).toHaveLength(4); // the first, then at 10, 20 and 30 s
    for (const r of reports.slice(1)) {
      expect(r.edgesUsed).toBe(5);
      expect(Math.abs(r.correction!.deltaMs)).toBeLessThan(0.001);
    }
    expect(host.longestCallbackMs).toBeLessThan(0.06);
    clock.stop();
  });

  it("slews to a host clock that moved, never going backwards", () => {
    const host = new SimulatedHost();
    const { clock, reports } = hostClock(host);
    host.stepRealtime(-0.4);
    void clock.reanchor();
    while (reports.length < 2) host.advance(0.01); // until the measurement is applied
    const r = reports[1]!;
    expect(r.correction!.stepped).toBe(false);
    expect(r.correction!.deltaMs).toBeCloseTo(-0.4, 3);
    let prev = clock.now();
    let prevTrue = host.t;
    let slowest = Infinity;
    for (let i = 0; i < 1000; i++) {
      host.t += 0.01;
      const now = clock.now();
      expect(now).toBeGreaterThanOrEqual(prev);
      slowest = Math.min(slowest, (now - prev) / (host.t - prevTrue));
      prev = now;
      prevTrue = host.t;
    }
    // 0.4 ms at 1/12 takes 4.8 ms; after 10 ms the clock agrees again.
    expect(Math.abs(clock.now() - host.trueRealtime())).toBeLessThan(0.001);
    expect(slowest).toBeCloseTo(1 - 1 / 12, 1);
    clock.stop();
  });

  it("steps when the host clock jumped by more than the threshold", async () => {
    const host = new SimulatedHost();
    const { clock } = hostClock(host);
    host.stepRealtime(5000);
    const measured = clock.reanchor();
    host.run(host.t + 100);
    expect((await measured).correction).toEqual({ deltaMs: expect.closeTo(5000, 3), stepped: true });
    expect(Math.abs(clock.now() - host.trueRealtime())).toBeLessThan(0.001);
    clock.stop();
  });

  it("ignores edges caught by a descheduled thread", async () => {
    const host = new SimulatedHost();
    const { clock } = hostClock(host);
    host.stepRealtime(0.2);
    const measured = clock.reanchor();
    host.descheduleAfter(3, 0.3); // the first slice's reads stall across a tick
    host.run(host.t + 100);
    const r = await measured;
    expect(r.edgesUsed).toBe(5);
    expect(r.correction!.deltaMs).toBeCloseTo(0.2, 3);
    clock.stop();
  });

  it("keeps its offset when no good edge can be caught", async () => {
    const host = new SimulatedHost();
    const { clock } = hostClock(host, { maxBracketMs: 0 }); // nothing is good enough
    const measured = clock.reanchor();
    host.run(host.t + 100);
    expect(await measured).toMatchObject({ edgesUsed: 0, edgesTried: 50 });
    expect((await measured).correction).toBeUndefined();
    expect(Math.abs(clock.now() - host.trueRealtime())).toBeLessThan(1 + ULP);
    clock.stop();
  });

  it("stops re-anchoring when stopped", () => {
    const host = new SimulatedHost();
    const { clock, reports } = hostClock(host);
    clock.stop();
    host.advance(60_000);
    expect(reports).toHaveLength(1);
    expect(host.pendingTimers).toBe(0);
  });
});
