import type { ClockFilterState } from "../../clients/sdk/clock/clock-filter.js";

/** What the room round-trip index last got for a session from this process. */
export interface IndexedRtt {
  roomId: string;
  typicalRttMs: number;
  lastSampleTimeMs: number;
}

/**
 * A session's filter state as this process last wrote it, and the version its record had in
 * Redis then (the estimate hash's `version`, a random number new with every write).
 */
export interface CachedSession {
  state: ClockFilterState;
  version: string;
  indexed?: IndexedRtt;
}

/**
 * The sessions whose samples this clock process recorded lately, so the next sample is
 * computed without reading the session back from Redis. Redis stays the record: a write
 * states the version it was computed from and is refused if the record moved on (another
 * clock process wrote it, or it expired), and then the session is read again. Bounded: past
 * `maxSessions` the least recently written session is forgotten (its next sample reads it).
 */
export class SessionCache {
  private readonly sessions = new Map<string, CachedSession>();

  constructor(private readonly maxSessions: number) {}

  get(sessionId: string): CachedSession | undefined {
    return this.sessions.get(sessionId);
  }

  set(sessionId: string, entry: CachedSession): void {
    if (this.maxSessions === 0) return;
    // Re-inserted, so the Map's order is the order of last writes.
    this.sessions.delete(sessionId);
    this.sessions.set(sessionId, entry);
    if (this.sessions.size > this.maxSessions) this.sessions.delete(this.sessions.keys().next().value!);
  }

  delete(sessionId: string): void {
    this.sessions.delete(sessionId);
  }

  get size(): number {
    return this.sessions.size;
  }
}
