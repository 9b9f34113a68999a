import type { ServerMessageOf, TestStream } from "./stream-client.js";

/** A playback_sync as a client gets it. */
export type Sync = ServerMessageOf<"playbackSync">["message"]["value"];

/** The next `n` playback_sync messages of a stream. */
export async function nextTicks(stream: TestStream, n: number): Promise<Sync[]> {
  const out: Sync[] = [];
  for (let i = 0; i < n; i++) out.push((await stream.next("playbackSync")).message.value);
  return out;
}

/**
 * Ticks are in order on one grid, one interval apart (whole intervals, if a slot was skipped
 * under load), and none came twice.
 */
export function expectOnGrid(syncs: Sync[], intervalMs: number): void {
  for (let i = 1; i < syncs.length; i++) {
    const step = syncs[i]!.serverTimestamp - syncs[i - 1]!.serverTimestamp;
    expect(step).toBeGreaterThanOrEqual(intervalMs);
    expect(step % intervalMs).toBe(0);
  }
}
