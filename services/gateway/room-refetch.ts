import { Code, ConnectError, type Client } from "@connectrpc/connect";
import type { RoomService, RoomState } from "../../gen/groovebox/room/v1/room_pb.js";
import type { Logger } from "../common/logger.js";
import { retryWithBackoff, type Backoff } from "../common/retry.js";
import type { StreamSession } from "./stream-session.js";

/**
 * How a refetch's read tries again while the rooms service answers UNAVAILABLE: a Redis master
 * failed, and the rooms service's connection has not found the replica that took over yet.
 * 250 ms doubling to 2 s, 11 tries: about 16 s, beyond a failover with cluster-node-timeout up
 * to 10 s. (A room whose refetch gives up gets its state again at its next event's gap.)
 */
export const REFETCH_BACKOFF: Backoff = { firstMs: 250, maxMs: 2000, tries: 11 };

interface Refetch {
  sessions: Set<StreamSession>;
  /** Events were missed again after the read in progress began: read once more. */
  again: boolean;
  done: Promise<void>;
}

const isUnavailable = (err: unknown) => ConnectError.from(err).code === Code.Unavailable;

/**
 * Sends a room's state again to its streams here when events may have been missed (see
 * RoomHub's onMissed): one read of the room for all its streams, and one at a time per room. A
 * refetch asked for while one is in progress joins it, with one more read once the current one
 * is back (the new loss may have come after that read), so a burst of losses costs two reads.
 * The streams hold the room's events from the request until the state is sent.
 */
export function createRoomRefetch(deps: { rooms: Client<typeof RoomService>; logger: Logger; backoff?: Backoff }) {
  const backoff = deps.backoff ?? REFETCH_BACKOFF;
  const inProgress = new Map<string, Refetch>();
  const stopping = new AbortController();

  const read = (roomId: string): Promise<RoomState | undefined> =>
    retryWithBackoff(async () => (await deps.rooms.getRoomState({ roomId }, { signal: stopping.signal })).state, {
      ...backoff,
      retryable: isUnavailable,
      signal: stopping.signal,
    });

  async function run(roomId: string, refetch: Refetch): Promise<void> {
    let state: RoomState | undefined;
    try {
      do {
        refetch.again = false;
        state = await read(roomId);
      } while (refetch.again);
    } catch (err) {
      // A state read before the failure is still newer than anything the streams have.
      deps.logger.warn({ err, roomId }, "room state refetch failed");
    } finally {
      inProgress.delete(roomId);
      for (const s of refetch.sessions) s.releaseEvents(roomId, "", state);
    }
  }

  return {
    /** Reads the room's state and sends it to these streams; resolves once it is sent (or the read failed). */
    refetch(roomId: string, sessions: readonly StreamSession[]): Promise<void> {
      const current = inProgress.get(roomId);
      if (current !== undefined) {
        for (const s of sessions) {
          if (current.sessions.has(s)) continue;
          s.holdEvents(roomId);
          current.sessions.add(s);
        }
        current.again = true;
        return current.done;
      }
      for (const s of sessions) s.holdEvents(roomId);
      const refetch: Refetch = { sessions: new Set(sessions), again: false, done: Promise.resolve() };
      inProgress.set(roomId, refetch);
      refetch.done = run(roomId, refetch);
      return refetch.done;
    },

    /** Stops the reads in progress and their retries (the gateway is stopping). */
    stop(): void {
      stopping.abort();
    },
  };
}

export type RoomRefetch = ReturnType<typeof createRoomRefetch>;
