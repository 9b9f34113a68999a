import type { ClockSource } from "../common/clock-source.js";
import type { Logger } from "../common/logger.js";
import type { RoomStore } from "./room-store.js";

/** Rooms handled per batch of the due set. */
const BATCH = 200;

/**
 * Ends what has run out: streams whose gateway stopped renewing them, and members whose grace
 * period passed (they leave, and a new DJ takes over if needed). Rooms wait in a due set
 * ordered by their next deadline, so a pass reads only rooms with something due, never all.
 * Several rooms-service processes may sweep at once: each room's sweep is a series of atomic,
 * idempotent scripts, each handling a bounded page.
 */
export function createPresenceSweeper(deps: { store: RoomStore; clock: ClockSource; logger: Logger; intervalMs: number }) {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;

  async function sweepDue(nowMs: number): Promise<number> {
    let swept = 0;
    for (;;) {
      const due = await deps.store.dueRooms(nowMs, BATCH);
      for (const roomId of due) {
        await deps.store.sweep(roomId, nowMs);
        swept++;
      }
      if (due.length < BATCH) {
        if (swept > 0) deps.logger.debug({ rooms: swept }, "presence sweep");
        return swept;
      }
    }
  }

  return {
    /** One pass at the clock's current time; resolves with the number of rooms swept. */
    runOnce(): Promise<number> {
      running ??= sweepDue(deps.clock.now()).finally(() => (running = undefined));
      return running;
    },
    start(): void {
      timer = setInterval(() => {
        this.runOnce().catch((err: unknown) => deps.logger.warn({ err }, "presence sweep failed"));
      }, deps.intervalMs);
      timer.unref();
    },
    async stop(): Promise<void> {
      clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}
