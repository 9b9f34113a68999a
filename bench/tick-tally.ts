/**
 * What bench:scheduler makes of the ticks it saw: per room, which slots of its grid were due in
 * the window, which arrived (and how late), which came twice; and lateness against the
 * machine's other load, second by second.
 */
import { percentile, round } from "./harness.js";

/** A tick as the observer saw it: its server_timestamp and when it arrived (host clock). */
export interface SeenTick {
  t: number;
  at: number;
}

/**
 * The ticks due in [from, to): per room, its grid (the phase of its ticks, one interval apart)
 * says which slots fall in the window; a slot without a tick is a miss, a tick seen twice a
 * duplicate. Lateness is arrival - server_timestamp of each first arrival.
 */
export function countTicks(seen: SeenTick[][], from: number, to: number, intervalMs: number) {
  let expected = 0;
  let received = 0;
  let duplicates = 0;
  let misses = 0;
  let roomsWithMisses = 0;
  let largestGap = 0;
  const arrivals: Array<{ t: number; lateness: number }> = [];
  for (const ticks of seen) {
    const inWindow = ticks.filter((x) => x.t >= from && x.t < to);
    received += inWindow.length;
    const unique = new Map<number, number>();
    for (const x of inWindow) {
      if (unique.has(x.t)) duplicates++;
      else unique.set(x.t, x.at);
    }
    for (const [t, at] of unique) arrivals.push({ t, lateness: at - t });
    if (ticks.length === 0) {
      // Never ticked at all: every slot of the window is missing.
      const slots = Math.round((to - from) / intervalMs);
      expected += slots;
      misses += slots;
      roomsWithMisses++;
      largestGap = Math.max(largestGap, slots);
      continue;
    }
    const phase = ((ticks[0]!.t % intervalMs) + intervalMs) % intervalMs;
    const first = Math.ceil((from - phase) / intervalMs) * intervalMs + phase;
    let roomMisses = 0;
    let gap = 0;
    for (let slot = first; slot < to; slot += intervalMs) {
      expected++;
      if (unique.has(slot)) {
        gap = 0;
      } else {
        roomMisses++;
        largestGap = Math.max(largestGap, ++gap);
      }
    }
    misses += roomMisses;
    if (roomMisses > 0) roomsWithMisses++;
  }
  return { expected, received, duplicates, misses, roomsWithMisses, largestGap, arrivals };
}

/**
 * Lateness against the machine's other load, second by second: the five worst seconds (p99
 * and the others' CPU then), and the lateness of the ticks due in quiet seconds.
 */
export function latenessBySecond(arrivals: Array<{ t: number; lateness: number }>, others: Array<{ at: number; othersPercent: number }>) {
  const seconds = others.map((o) => ({ ...o, lateness: [] as number[] }));
  for (const a of arrivals) {
    const s = seconds.find((o) => a.t <= o.at && a.t > o.at - 1000);
    s?.lateness.push(a.lateness);
  }
  const quietSeconds = seconds.filter((s) => s.othersPercent < 50);
  const worst = seconds
    .filter((s) => s.lateness.length > 0)
    .map((s) => ({ p99Ms: round(percentile(s.lateness, 99)), maxMs: round(Math.max(...s.lateness)), othersPercent: round(s.othersPercent, 1) }))
    .sort((a, b) => b.p99Ms - a.p99Ms)
    .slice(0, 5);
  return { worst, quietSeconds: quietSeconds.length, quiet: quietSeconds.flatMap((s) => s.lateness) };
}

