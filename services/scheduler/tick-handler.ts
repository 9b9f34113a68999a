import type { ClockSource } from "../common/clock-source.js";
import type { Logger } from "../common/logger.js";
import type { SyncSchedule } from "../playback/sync-schedule.js";
import type { SyncTickOutcome, SyncTicks } from "../playback/sync-ticks.js";
import type { SchedulerMetrics } from "./metrics.js";

export type TickHandlerOutcome = SyncTickOutcome | "late";

/** Resolves once `clock` reads `ms` or later (a timer may fire a fraction of a millisecond early). */
export async function clockReaches(clock: ClockSource, ms: number): Promise<void> {
  for (let left = ms - clock.now(); left > 0; left = ms - clock.now()) {
    await new Promise((resolve) => setTimeout(resolve, Math.ceil(left)));
  }
}

/**
 * One tick of one room, whenever its job arrives: waits for the tick's instant, sends the
 * room's playback_sync for that instant, and removes the schedule of a room that no longer
 * plays. A tick picked up more than `maxLatenessMs` after its instant (the workers were down
 * or swamped) is skipped: the next one is on its way, and a burst of old ticks helps nobody.
 */
export function createTickHandler(deps: {
  ticks: SyncTicks;
  schedule: Pick<SyncSchedule, "unscheduleUnlessPlaying">;
  clock: ClockSource;
  metrics: SchedulerMetrics;
  logger: Logger;
  maxLatenessMs: number;
  /** Waits until the clock reads the given time (tests move a manual clock instead). */
  until?: (ms: number) => Promise<void>;
}) {
  const { clock, metrics } = deps;
  const until = deps.until ?? ((ms: number) => clockReaches(clock, ms));
  return async function tick(roomId: string, tickMs: number): Promise<TickHandlerOutcome> {
    let outcome: TickHandlerOutcome;
    if (clock.now() - tickMs > deps.maxLatenessMs) {
      outcome = "late";
    } else {
      await until(tickMs);
      outcome = await deps.ticks.send(roomId, tickMs);
      if (outcome === "sent") metrics.tickLateness.observe((clock.now() - tickMs) / 1000);
      if (outcome === "not-playing" || outcome === "gone") {
        const removed = await deps.schedule.unscheduleUnlessPlaying(roomId);
        if (removed) deps.logger.info({ roomId, outcome }, "sync schedule removed");
      }
    }
    metrics.ticks.inc({ outcome });
    return outcome;
  };
}

export type TickHandler = ReturnType<typeof createTickHandler>;
