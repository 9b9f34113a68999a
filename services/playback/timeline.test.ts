import fc from "fast-check";
import {
  effectiveAt,
  endTime,
  IDLE,
  pause,
  position,
  resume,
  seek,
  start,
  statusAt,
  stop,
  syncBufferMs,
  TimelineStateError,
  type Timeline,
} from "./timeline.js";

const T0 = 1_700_000_000_000;

describe("timeline", () => {
  it("starts at start_at from the start position, not from the command (the seed's bug)", () => {
    const t = start(IDLE, { trackId: "song", positionMs: 30_000, bufferMs: 200, nowMs: T0 });
    expect(t.startAtServerTime).toBe(T0 + 200);
    expect(position(t, T0)).toBe(29_800); // at the command: waiting
    expect(position(t, T0 + 200)).toBe(30_000); // at start_at
    expect(position(t, T0 + 200 + 10_000)).toBe(40_000); // ten seconds after start_at
    expect(t.version).toBe(1);
  });

  it("pauses where it is and resumes from there with a fresh buffer", () => {
    const playing = start(IDLE, { trackId: "song", positionMs: 0, bufferMs: 100, nowMs: T0 });
    const paused = pause(playing, T0 + 100 + 5000);
    expect(paused.playing).toBe(false);
    expect(position(paused, T0 + 999_999)).toBe(5000);
    const resumed = resume(paused, T0 + 20_000, 150);
    expect(resumed.startAtServerTime).toBe(T0 + 20_150);
    expect(position(resumed, T0 + 20_150)).toBe(5000);
    expect(position(resumed, T0 + 21_150)).toBe(6000);
    expect(resumed.version).toBe(3);
  });

  it("never pauses below the start position while waiting to start", () => {
    const t = start(IDLE, { trackId: "song", positionMs: 30_000, bufferMs: 300, nowMs: T0 });
    expect(position(pause(t, T0 + 100), T0 + 100)).toBe(30_000);
  });

  it("seeks: playing devices jump together after a buffer; paused ones just move", () => {
    const playing = start(IDLE, { trackId: "song", positionMs: 0, bufferMs: 100, nowMs: T0 });
    const moved = seek(playing, T0 + 1000, 60_000, 120);
    expect(position(moved, T0 + 1120)).toBe(60_000);
    expect(moved.startAtServerTime).toBe(T0 + 1120);
    const paused = pause(playing, T0 + 2000);
    expect(position(seek(paused, T0 + 3000, 42_000, 100), T0 + 9999)).toBe(42_000);
  });

  it("ends at a known duration: position stops there and the room is idle", () => {
    const t = start(IDLE, { trackId: "song", positionMs: 1000, trackDurationMs: 3000, bufferMs: 100, nowMs: T0 });
    expect(endTime(t)).toBe(T0 + 100 + 2000);
    expect(position(t, T0 + 100 + 1999)).toBe(2999);
    expect(position(t, T0 + 100 + 5000)).toBe(3000);
    expect(statusAt(t, T0 + 2099)).toBe("playing");
    expect(statusAt(t, T0 + 2100)).toBe("idle");
    expect(effectiveAt(t, T0 + 2100)).toEqual({ ...IDLE, version: t.version });
    expect(() => pause(t, T0 + 2100)).toThrow(TimelineStateError);
  });

  it("refuses transitions the state does not allow", () => {
    expect(() => pause(IDLE, T0)).toThrow(TimelineStateError);
    expect(() => resume(IDLE, T0, 100)).toThrow(TimelineStateError);
    expect(() => seek(IDLE, T0, 5, 100)).toThrow(TimelineStateError);
    expect(() => stop(IDLE, T0)).toThrow(TimelineStateError);
    const playing = start(IDLE, { trackId: "song", positionMs: 0, bufferMs: 100, nowMs: T0 });
    expect(() => resume(playing, T0 + 500, 100)).toThrow(TimelineStateError);
    expect(stop(playing, T0 + 500)).toEqual({ ...IDLE, version: 2 });
  });
});

describe("syncBufferMs", () => {
  const opts = { rttMultiplier: 2, minBufferMs: 100, maxBufferMs: 500, defaultRttMs: 50, maxOutputLatencyMs: 1000 };
  const rtt = (maxRttMs: number | undefined) => ({ maxRttMs, maxOutputLatencyMs: 0 });
  it("is twice the room's worst round trip, within 100..500 ms", () => {
    expect(syncBufferMs(rtt(120), opts)).toBe(240);
    expect(syncBufferMs(rtt(10), opts)).toBe(100);
    expect(syncBufferMs(rtt(400), opts)).toBe(500);
  });
  it("assumes 50 ms when no member has fresh samples", () => {
    expect(syncBufferMs(rtt(undefined), opts)).toBe(100);
    expect(syncBufferMs(rtt(undefined), { ...opts, defaultRttMs: 90 })).toBe(180);
  });
  it("adds the room's largest output latency, up to its cap", () => {
    expect(syncBufferMs({ maxRttMs: 10, maxOutputLatencyMs: 200 }, opts)).toBe(300);
    expect(syncBufferMs({ maxRttMs: 400, maxOutputLatencyMs: 200 }, opts)).toBe(700);
    expect(syncBufferMs({ maxRttMs: 10, maxOutputLatencyMs: 60_000 }, opts)).toBe(1100);
  });
});

/** Random command sequences: what the DJ might do, at increasing times. */
type Cmd =
  | { kind: "start"; positionMs: number; bufferMs: number; durationMs?: number }
  | { kind: "pause" }
  | { kind: "resume"; bufferMs: number }
  | { kind: "seek"; positionMs: number; bufferMs: number }
  | { kind: "stop" };

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({
    kind: fc.constant("start" as const),
    positionMs: fc.integer({ min: 0, max: 600_000 }),
    bufferMs: fc.integer({ min: 100, max: 500 }),
    durationMs: fc.option(fc.integer({ min: 600_001, max: 900_000 }), { nil: undefined }),
  }),
  fc.record({ kind: fc.constant("pause" as const) }),
  fc.record({ kind: fc.constant("resume" as const), bufferMs: fc.integer({ min: 100, max: 500 }) }),
  fc.record({
    kind: fc.constant("seek" as const),
    positionMs: fc.integer({ min: 0, max: 600_000 }),
    bufferMs: fc.integer({ min: 100, max: 500 }),
  }),
  fc.record({ kind: fc.constant("stop" as const) }),
);
const stepsArb = fc.array(fc.tuple(cmdArb, fc.integer({ min: 0, max: 20_000 })), { minLength: 1, maxLength: 30 });

/** Applies a command, or returns undefined when the state does not allow it. */
function apply(t: Timeline, cmd: Cmd, now: number): Timeline | undefined {
  try {
    switch (cmd.kind) {
      case "start":
        return start(effectiveAt(t, now), { trackId: "song", positionMs: cmd.positionMs, trackDurationMs: cmd.durationMs, bufferMs: cmd.bufferMs, nowMs: now });
      case "pause":
        return pause(effectiveAt(t, now), now);
      case "resume":
        return resume(effectiveAt(t, now), now, cmd.bufferMs);
      case "seek":
        return seek(effectiveAt(t, now), now, cmd.positionMs, cmd.bufferMs);
      case "stop":
        return stop(effectiveAt(t, now), now);
    }
  } catch (err) {
    if (err instanceof TimelineStateError) return undefined;
    throw err;
  }
}

/**
 * Replays random steps (a command after a gap) from idle; `check` sees each accepted change
 * with the state before and after. Returns the final state and time.
 */
function replay(steps: Array<[Cmd, number]>, check: (cmd: Cmd, before: Timeline, after: Timeline, now: number) => void = () => {}) {
  let t: Timeline = IDLE;
  let now = T0;
  for (const [cmd, gap] of steps) {
    now += gap;
    const next = apply(t, cmd, now);
    if (!next) continue;
    check(cmd, t, next, now);
    t = next;
  }
  return { t, now };
}

describe("timeline properties over random command sequences", () => {
  it("pause never moves the position (once playback has begun)", () => {
    fc.assert(
      fc.property(stepsArb, (steps) => {
        replay(steps, (cmd, before, after, now) => {
          if (cmd.kind === "pause" && now >= before.startAtServerTime) expect(position(after, now)).toBe(position(before, now));
        });
      }),
    );
  });

  it("position is continuous across pause and resume: it restarts where it stopped", () => {
    fc.assert(
      fc.property(stepsArb, (steps) => {
        replay(steps, (cmd, before, after, now) => {
          if (cmd.kind === "resume") expect(position(after, after.startAtServerTime)).toBe(position(before, now));
        });
      }),
    );
  });

  it("while playing, position grows with time and is never negative after start_at", () => {
    fc.assert(
      fc.property(stepsArb, fc.array(fc.integer({ min: 0, max: 30_000 }), { minLength: 2, maxLength: 20 }), (steps, probes) => {
        const { t } = replay(steps);
        if (!t.playing) return;
        const times = probes.map((p) => t.startAtServerTime + p).sort((a, b) => a - b);
        for (let i = 0; i < times.length; i++) {
          expect(position(t, times[i]!)).toBeGreaterThanOrEqual(0);
          if (i > 0) expect(position(t, times[i]!)).toBeGreaterThanOrEqual(position(t, times[i - 1]!));
        }
      }),
    );
  });

  it("every accepted change raises the version by exactly one", () => {
    fc.assert(
      fc.property(stepsArb, (steps) => {
        replay(steps, (_cmd, before, after) => expect(after.version).toBe(before.version + 1));
      }),
    );
  });
});
