import fc from "fast-check";
import { tickDueTime } from "./sync-schedule.js";
import { syncTickAt } from "./sync-ticks.js";
import { IDLE, pause, position, seek, start } from "./timeline.js";

const T0 = 1_700_000_000_000;

describe("sync tick content", () => {
  const playing = start(IDLE, { trackId: "song", positionMs: 30_000, trackDurationMs: 200_000, bufferMs: 200, nowMs: T0 });

  it("reports the timeline's position at the tick's instant, not at the moment it is sent", () => {
    expect(syncTickAt("r1", playing, T0 + 200 + 10_000)).toEqual({
      roomId: "r1",
      trackId: "song",
      serverTimestamp: T0 + 10_200,
      theoreticalPosition: 40_000,
      version: 1n,
    });
  });

  it("is the start position plus the time since the start instant, at any tick (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 169_999 }), (elapsed) => {
        const at = T0 + 200 + elapsed;
        expect(syncTickAt("r1", playing, at)).toMatchObject({ serverTimestamp: at, theoreticalPosition: 30_000 + elapsed });
      }),
    );
  });

  it("says nothing before the devices' start instant: they are still waiting", () => {
    expect(syncTickAt("r1", playing, T0 + 199)).toBe("waiting");
    const sought = seek(playing, T0 + 5000, 90_000, 150);
    expect(syncTickAt("r1", sought, T0 + 5100)).toBe("waiting");
    expect(syncTickAt("r1", sought, T0 + 5150 + 1000)).toMatchObject({ theoreticalPosition: 91_000, version: 2n });
  });

  it("has nothing to say for a paused, idle or ended timeline", () => {
    expect(syncTickAt("r1", pause(playing, T0 + 5000), T0 + 10_000)).toBe("not-playing");
    expect(syncTickAt("r1", IDLE, T0)).toBe("not-playing");
    const end = playing.startAtServerTime + 170_000;
    expect(position(playing, end)).toBe(200_000);
    expect(syncTickAt("r1", playing, end - 1)).toMatchObject({ theoreticalPosition: 199_999 });
    expect(syncTickAt("r1", playing, end)).toBe("not-playing");
  });
});

describe("tick due time", () => {
  it("is read from the id BullMQ gives a scheduler's job", () => {
    expect(tickDueTime("repeat:AbC-d_e:1795634617616")).toBe(1_795_634_617_616);
    expect(tickDueTime("some-other-job")).toBeUndefined();
    expect(tickDueTime(undefined)).toBeUndefined();
  });
});
