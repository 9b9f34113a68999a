import { Code } from "@connectrpc/connect";
import { DomainError, failedPrecondition, notFound, permissionDenied } from "../common/errors.js";
import type { ClockSource } from "../common/clock-source.js";
import type { Logger } from "../common/logger.js";
import { rttCutoff } from "../clock/room-rtt-index.js";
import { PlaybackChange, playbackEventBytes } from "./playback-events.js";
import type { PlaybackStore } from "./playback-store.js";
import { effectiveAt, TimelineStateError, type RoomDelays, type Timeline } from "./timeline.js";

/**
 * Optimistic attempts before a command gives up under contention (ABORTED). Every round of
 * racing commands lets at least one through, so N racers need at most N rounds.
 */
const MAX_ATTEMPTS = 64;

/** Reacts to changes of a room's timeline: the track-end timer, the 10 s sync's schedule. */
export interface PlaybackHooks {
  /**
   * Before a change is stored, awaited: a failure fails the command and nothing is stored.
   * It may run for a change that then loses its compare-and-set.
   */
  beforeCommit?(roomId: string, next: Timeline, nowMs: number): Promise<void>;
  /** After a change was stored and announced; not awaited by the command. */
  committed(roomId: string, previous: Timeline, next: Timeline, nowMs: number): Promise<void>;
}

/** Several hooks as one: each sees every change; the first failure is reported. */
export function allHooks(...hooks: PlaybackHooks[]): PlaybackHooks {
  return {
    async beforeCommit(roomId, next, nowMs) {
      await Promise.all(hooks.map((h) => h.beforeCommit?.(roomId, next, nowMs)));
    },
    async committed(roomId, previous, next, nowMs) {
      await Promise.all(hooks.map((h) => h.committed(roomId, previous, next, nowMs)));
    },
  };
}

export interface Command {
  roomId: string;
  /** The DJ's user id; "" for the system (a track reaching its end). */
  djId: string;
  /** The version the client expects the timeline to be at, if it said (uint64: any value, compared exactly). */
  expectedVersion?: bigint;
  /**
   * The change at `nowMs` from the current (effective) timeline, knowing the room's fresh round
   * trips and largest output latency (for a start buffer); throws TimelineStateError when not
   * allowed. Runs after the DJ check.
   */
  transition(current: Timeline, nowMs: number, delays: RoomDelays): Timeline;
  change: PlaybackChange | "started";
}

/**
 * Applies playback commands as compare-and-set on the timeline's version: read, compute the
 * new timeline with the pure timeline functions, and store it only if nobody changed it in
 * between (else read again and retry). Two DJs' racing commands therefore each get their own
 * version, or, when they named expected_version, the loser gets FAILED_PRECONDITION.
 */
export function createCommandRunner(deps: {
  store: PlaybackStore;
  clock: ClockSource;
  hooks: PlaybackHooks;
  logger: Logger;
  /** A session's round trip counts for the room while its newest sample is this young. */
  rttFreshMs: number;
}) {
  const { store, clock, hooks } = deps;
  return async function run(cmd: Command): Promise<{ next: Timeline; nowMs: number }> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      // One room script reads the timeline, the DJ and the room's delays together.
      const room = await store.read(cmd.roomId, cmd.djId, rttCutoff(clock.now(), deps.rttFreshMs));
      if (room === undefined) throw notFound("room not found");
      if (cmd.djId !== "" && room.currentDjId !== cmd.djId) throw permissionDenied("only the room's DJ may control playback");
      const stored = room.timeline;
      if (cmd.expectedVersion !== undefined && cmd.expectedVersion !== BigInt(stored.version)) {
        throw failedPrecondition(`the timeline is at version ${stored.version}, not ${cmd.expectedVersion}`);
      }
      const nowMs = clock.now();
      let next: Timeline;
      try {
        next = cmd.transition(effectiveAt(stored, nowMs), nowMs, room.delays);
      } catch (err) {
        if (err instanceof TimelineStateError) throw failedPrecondition(err.message);
        throw err;
      }
      next = { ...next, version: stored.version + 1 };
      await hooks.beforeCommit?.(cmd.roomId, next, nowMs);
      const status = await store.commit(cmd.roomId, stored.version, cmd.djId, next, playbackEventBytes(cmd.roomId, next, nowMs, cmd.change));
      if (status === "OK") {
        // Not awaited: the change is committed and announced; the hooks' own storage (BullMQ)
        // may be slower or down, and the answer must not wait for it.
        hooks.committed(cmd.roomId, stored, next, nowMs).catch((err: unknown) => {
          deps.logger.warn({ err, roomId: cmd.roomId, version: next.version }, "playback hook failed");
        });
        const change = cmd.change === "started" ? "STARTED" : PlaybackChange[cmd.change];
        deps.logger.info({ roomId: cmd.roomId, version: next.version, change }, "playback changed");
        return { next, nowMs };
      }
      if (status === "NOT_FOUND") throw notFound("room not found");
      if (status === "NOT_DJ") throw permissionDenied("only the room's DJ may control playback");
      if (cmd.expectedVersion !== undefined) throw failedPrecondition("the timeline changed; read it again");
      // Lost a race: back off a little, at random, so the racers do not collide again.
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(attempt + 1, 10)));
    }
    throw new DomainError(Code.Aborted, "too many concurrent playback changes; retry");
  };
}

export type CommandRunner = ReturnType<typeof createCommandRunner>;
