import { median, percentile } from "../common/stats.js";
import { defaultClockFilterOptions, evaluateExchange } from "../../clients/sdk/clock/clock-filter.js";

/**
 * How far apart the clocks of groovebox processes are, measured the way devices measure the
 * server: ClockService/Ping exchanges, the minimum-RTT one of each burst.
 *
 * Offsets are taken from one observer to every target (including the reference) in turn, and
 * a target's offset from the reference is the difference of the two. The observer's own clock
 * cancels, and so does the part of a unary call's asymmetry that every target shares (the
 * same server stack decodes the request before t1 and encodes the answer after t2).
 */

/** One Ping: sends t0, resolves with the target's t1 and t2. */
export type PingFn = (clientSendTimeMs: number) => Promise<{ serverReceiveTimeMs: number; serverSendTimeMs: number }>;

/** The min-RTT exchange of one burst: target clock - observer clock. */
export interface BurstResult {
  offsetMs: number;
  rttMs: number;
}

/**
 * `count` pings in a row; the offset of the one with the smallest round trip. A ping that
 * fails (its deadline passed on a busy host, say) is one sample fewer, as a slow one would be
 * one the minimum passes over: only a burst with no answered ping fails.
 */
export async function pingBurst(ping: PingFn, now: () => number, count: number): Promise<BurstResult> {
  let best: BurstResult | undefined;
  let failure: unknown;
  for (let i = 0; i < count; i++) {
    const t0 = now();
    let answer: Awaited<ReturnType<PingFn>>;
    try {
      answer = await ping(t0);
    } catch (err) {
      failure = err;
      continue;
    }
    const { serverReceiveTimeMs: t1, serverSendTimeMs: t2 } = answer;
    const sample = evaluateExchange({ t0, t1, t2, t3: now() }, defaultClockFilterOptions);
    if (sample && (!best || sample.rttMs < best.rttMs)) best = { offsetMs: sample.offsetMs, rttMs: sample.rttMs };
  }
  if (!best) throw new Error("no usable ping exchange", { cause: failure });
  return best;
}

/** A target's offsets from the reference over several rounds. */
export interface PeerOffsetSummary {
  /** Rounds measured, and those used: the better half by round trip. */
  rounds: number;
  roundsUsed: number;
  /** Median offset from the reference, ms (positive: the target's clock is ahead). */
  offsetMs: number;
  /** |offset| percentiles and maximum over the rounds used, ms. */
  absP50Ms: number;
  absP99Ms: number;
  absMaxMs: number;
  /** The smallest round trip to the target, ms. */
  minRttMs: number;
  /**
   * How far offsetMs can be from the truth, ms: a round's offset errs by at most half its
   * combined round trip (each burst's by half its own), so the median of the rounds used errs
   * by at most half the longest of theirs. Large on a busy host, where pings queue.
   */
  errorBoundMs: number;
}

/** One round's measurement of a target: its offset from the reference, and the round trips behind it. */
export interface RoundOffset {
  offsetMs: number;
  /** The target's round trip plus the reference's (the mean of the bursts around it), ms. */
  combinedRttMs: number;
  targetRttMs: number;
}

/**
 * Summarizes one target's rounds. Only the better half by round trip counts: on a busy host a
 * round whose pings waited in a queue has a longer round trip, and queueing is what makes a
 * ping's two directions unequal and its offset wrong (by up to half the round trip).
 */
export function summarizeOffsets(rounds: readonly RoundOffset[]): PeerOffsetSummary {
  const used = [...rounds].sort((a, b) => a.combinedRttMs - b.combinedRttMs).slice(0, Math.ceil(rounds.length / 2));
  const abs = used.map((r) => Math.abs(r.offsetMs));
  return {
    rounds: rounds.length,
    roundsUsed: used.length,
    offsetMs: median(used.map((r) => r.offsetMs)),
    absP50Ms: percentile(abs, 50),
    absP99Ms: percentile(abs, 99),
    absMaxMs: Math.max(...abs),
    minRttMs: Math.min(...rounds.map((r) => r.targetRttMs)),
    errorBoundMs: Math.max(...used.map((r) => r.combinedRttMs)) / 2,
  };
}

/**
 * Measures every target's offset from `reference` over `rounds` rounds. A round pings the
 * reference, then each target followed by the reference again, in bursts; a target's offset is
 * taken against the mean of the reference bursts just before and after it, so even a drifting
 * observer clock cancels. `pause` runs between rounds.
 */
export async function measurePeerOffsets<K extends string>(opts: {
  reference: PingFn;
  targets: Record<K, PingFn>;
  now: () => number;
  rounds: number;
  pingsPerBurst: number;
  pause?: () => Promise<void>;
}): Promise<Record<K, PeerOffsetSummary>> {
  const names = Object.keys(opts.targets) as K[];
  const measured = new Map<K, RoundOffset[]>(names.map((n) => [n, []]));
  const burst = (ping: PingFn) => pingBurst(ping, opts.now, opts.pingsPerBurst);
  for (let round = 0; round < opts.rounds; round++) {
    let before = await burst(opts.reference);
    for (const name of names) {
      const target = await burst(opts.targets[name]);
      const after = await burst(opts.reference);
      measured.get(name)!.push({
        offsetMs: target.offsetMs - (before.offsetMs + after.offsetMs) / 2,
        combinedRttMs: target.rttMs + (before.rttMs + after.rttMs) / 2,
        targetRttMs: target.rttMs,
      });
      before = after;
    }
    if (round < opts.rounds - 1) await opts.pause?.();
  }
  return Object.fromEntries(names.map((n) => [n, summarizeOffsets(measured.get(n)!)])) as Record<K, PeerOffsetSummary>;
}
