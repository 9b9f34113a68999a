import { wrapEvent } from "./watch-view.js";

describe("wrapEvent", () => {
  it("keeps a line that fits, and breaks a longer one at spaces, continued under its text", () => {
    expect(wrapEvent("21:13:22.377  Ivy joined", 80)).toEqual(["21:13:22.377  Ivy joined"]);
    const line = "21:13:21.903  clock synchronised: offset +0.402 ms  drift +0.0 ppm  rtt 1.35 ms  error ±0.70 ms";
    const rows = wrapEvent(line, 80);
    expect(rows).toEqual([
      "21:13:21.903  clock synchronised: offset +0.402 ms  drift +0.0 ppm  rtt 1.35 ms",
      "              error ±0.70 ms",
    ]);
    for (const row of rows) expect(row.length).toBeLessThanOrEqual(80);
  });

  it("cuts a word longer than the row", () => {
    expect(wrapEvent(`21:13:22.377  ${"x".repeat(100)}`, 80).every((r) => r.length <= 80)).toBe(true);
  });
});
