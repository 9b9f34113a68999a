import { entryOf, withNetworkStamps, type ResourceTimes } from "./network-stamps.js";

const URL = "https://gw.example/groovebox.clock.v1.ClockService/Ping";
const entry = (startTime: number, requestStart = startTime + 0.3, responseStart = requestStart + 1.5, name = URL): ResourceTimes => ({
  name,
  startTime,
  requestStart,
  responseStart,
});

describe("entryOf", () => {
  const call = { url: URL, calledFrom: 100, calledUntil: 100.2 };

  it("finds the entry of the fetch that started while the call ran", () => {
    const mine = entry(100.1);
    expect(entryOf(call, [entry(40), mine, entry(140)])).toBe(mine);
  });

  it("finds none for another URL, or before the entry is reported", () => {
    expect(entryOf(call, [entry(100.1, 100.4, 101, "https://gw.example/other")])).toBeUndefined();
    expect(entryOf(call, [entry(40)])).toBeUndefined();
  });

  it("takes neither of two fetches that started within one tick of a coarse clock", () => {
    expect(entryOf(call, [entry(100.1), entry(100.2)])).toBeUndefined();
  });
});

describe("withNetworkStamps", () => {
  const timeOrigin = 1_800_000_000_000;
  // The script stamped 100 and 130 (a busy main thread read the answer late).
  const exchange = { t0: timeOrigin + 100, t1: timeOrigin + 101.2, t2: timeOrigin + 101.3, t3: timeOrigin + 130 };

  it("takes t0 and t3 from the network stack, tightening a one-sided delay away", () => {
    const stamped = withNetworkStamps(exchange, entry(100.1, 100.4, 102.2), timeOrigin)!;
    expect(stamped).toEqual({ ...exchange, t0: timeOrigin + 100.4, t3: timeOrigin + 102.2 });
  });

  it("keeps nothing from an entry without stamps (another origin without Timing-Allow-Origin)", () => {
    expect(withNetworkStamps(exchange, entry(100.1, 0, 0), timeOrigin)).toBeUndefined();
  });

  it("keeps nothing from stamps outside the script's own, which cannot be this fetch's", () => {
    expect(withNetworkStamps(exchange, entry(99, 99.5, 102), timeOrigin)).toBeUndefined();
    expect(withNetworkStamps(exchange, entry(100.1, 100.4, 131), timeOrigin)).toBeUndefined();
    expect(withNetworkStamps(exchange, entry(100.1, 102, 101), timeOrigin)).toBeUndefined();
  });
});
