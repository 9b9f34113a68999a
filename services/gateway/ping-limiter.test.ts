import { PingLimiter } from "./ping-limiter.js";

describe("PingLimiter", () => {
  it("allows a burst, then the steady rate", () => {
    const limiter = new PingLimiter(10, 3, 0);
    expect([0, 0, 0, 0].map(() => limiter.take(0))).toEqual([true, true, true, false]);
    expect(limiter.take(50)).toBe(false); // half a token
    expect(limiter.take(100)).toBe(true); // one token after 100 ms at 10/s
    expect(limiter.take(100)).toBe(false);
  });

  it("never stores more than the burst", () => {
    const limiter = new PingLimiter(10, 2, 0);
    const results = [1, 2, 3].map(() => limiter.take(60_000));
    expect(results).toEqual([true, true, false]);
  });

  it("does not mint tokens when time goes backwards", () => {
    const limiter = new PingLimiter(10, 1, 1000);
    expect(limiter.take(1000)).toBe(true);
    expect(limiter.take(0)).toBe(false);
    expect(limiter.take(50)).toBe(false);
  });
});
