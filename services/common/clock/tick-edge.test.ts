import { SimulatedHost } from "../../../test/support/simulated-host.js";
import { catchTickEdge } from "./tick-edge.js";

describe("catchTickEdge", () => {
  it("places the realtime clock's tick to a fraction of a microsecond", () => {
    const host = new SimulatedHost();
    const truth = host.realtimeBaseMs - host.monotonicBaseMs;
    for (let i = 0; i < 20; i++) {
      const edge = catchTickEdge(host.sources, host.sources.monotonicMs() + 2)!;
      expect(edge.bracketMs).toBeLessThan(0.0005);
      // An epoch time in ms is a double with a resolution of 2^-12 ms (0.24 µs).
      expect(Math.abs(edge.offsetMs - truth)).toBeLessThanOrEqual(edge.bracketMs / 2 + 2 ** -12);
    }
  });

  it("gives up at the deadline when no tick comes", () => {
    const host = new SimulatedHost(0, 1_800_000_000_000.0); // the next tick is ~1 ms away
    host.sources.realtimeMs();
    expect(catchTickEdge(host.sources, host.sources.monotonicMs() + 0.05)).toBeUndefined();
  });

  it("shows a tick that came while the thread was descheduled as wide", () => {
    const host = new SimulatedHost(0, 1_800_000_000_000.0);
    host.t = 0.7;
    host.descheduleAfter(10, 0.5); // 0.5 ms away in the middle of the spin, across the tick
    const edge = catchTickEdge(host.sources, 10)!;
    expect(edge.bracketMs).toBeGreaterThan(0.4);
  });

  it("cannot place a tick when the clock moved by more than a millisecond", () => {
    const host = new SimulatedHost(0, 1_800_000_000_000.5);
    host.descheduleAfter(6, 3);
    expect(catchTickEdge(host.sources, 10)!.bracketMs).toBe(Infinity);
  });
});
