/**
 * bench:clock-drift: how right is the server's idea of a device's clock when someone reads it?
 *
 * A simulation (no processes, no sockets; deterministic for a seed) of what the clock service
 * does with real samples: devices with their own clock offset (+-10 s) and drift (+-100 ppm)
 * ping like the SDK does (a burst of 8 at 40 ms, then every 2 s) over links with the profiles
 * of bench:sync (WAN round trips of 10-150 ms, heavy-tailed Pareto jitter, spikes). Each sample
 * reaches the clock service when the device's next ping carries its t3, plus the gateway's
 * batching. At random instants a reader takes the session's estimate, and its error against
 * the device's true offset at that instant is recorded, for:
 *
 * - drift filter: the clock service's estimate (clients/sdk/clock/clock-filter.ts) extrapolated to the read time;
 * - seed key as-is: the offset stored at the last write, read without extrapolating;
 * - min-RTT window: the previous estimator (the min-RTT sample of the last 16, no drift);
 * - last sample: the seed's method.
 *
 * Also: the error bound's coverage (how often |error| <= error_ms), and reads long after the
 * device stopped pinging (10 s to 2 min after its last sample). Writes
 * bench/results/clock-drift.json.
 *
 *   npm run bench:clock-drift -- --devices=200 --minutes=10 --reads=200 --seed=1
 */
import { cpus, loadavg } from "node:os";
import { DelayModel, NO_DELAY, seededRandom, type LinkProfile } from "./delay-proxy.js";
import { intArgs, percentile, round, runBench, writeResults } from "./harness.js";
import {
  advanceClockFilter,
  defaultClockFilterOptions as opts,
  estimateAt,
  evaluateExchange,
  freshWindow,
  type ClockSampleValue,
  type ClockFilterState,
} from "../clients/sdk/clock/clock-filter.js";

interface Profile {
  name: string;
  description: string;
  /** Each device draws its base one-way delay from this range (ms). */
  baseDelayMs: [number, number];
  link: Omit<LinkProfile, "baseDelayMs">;
}

const jitter = { jitterMedianMs: 2, jitterShape: 1.5, jitterMaxMs: 100 };
const PROFILES: Profile[] = [
  { name: "zero-jitter", description: "WAN base delays (RTT 10-150 ms), no jitter", baseDelayMs: [5, 75], link: NO_DELAY },
  { name: "lan", description: "LAN: RTT 0.5-2 ms, jitter median 0.2 ms", baseDelayMs: [0.25, 1], link: { ...NO_DELAY, jitterMedianMs: 0.2, jitterShape: 1.5, jitterMaxMs: 10 } },
  { name: "wan-jitter", description: "WAN: RTT 10-150 ms, Pareto jitter median 2 ms each way, cap 100 ms", baseDelayMs: [5, 75], link: { ...NO_DELAY, ...jitter } },
  {
    name: "spikes",
    description: "wan-jitter plus spikes: 2 a minute per direction, 500 ms long, +50-200 ms",
    baseDelayMs: [5, 75],
    link: { ...NO_DELAY, ...jitter, spikesPerMinute: 2, spikeDurationMs: 500 },
  },
];

/** How the SDK pings (clients/sdk/clock/clock-sync.ts defaults) and the gateway batches. */
const BURST = { count: 8, intervalMs: 40 };
const PING_INTERVAL_MS = 2000;
const GATEWAY_BATCH_MS = 50;
/** Client clocks read in steps of this (browsers coarsen performance.now()). */
const CLIENT_RESOLUTION_MS = 0.1;
const SERVER_HOLD_MS = 0.05;
const STALE_AGES_MS = [10_000, 30_000, 60_000, 120_000];

interface Device {
  offsetMs: number;
  /** The device clock runs this many ppm fast. */
  driftPpm: number;
  /** The device's clock at true (= server) time t. */
  local(t: number): number;
  /** The true offset (server - device) at server time t. */
  trueOffset(t: number): number;
}

function device(random: () => number): Device {
  const offsetMs = (random() * 2 - 1) * 10_000;
  const driftPpm = (random() * 2 - 1) * 100;
  const local = (t: number) => t + offsetMs + driftPpm * 1e-6 * t;
  return { offsetMs, driftPpm, local, trueOffset: (t) => t - local(t) };
}

const quantize = (t: number) => Math.floor(t / CLIENT_RESOLUTION_MS) * CLIENT_RESOLUTION_MS;

/** One device's samples over a session: each with the server time it becomes known to the clock service. */
function simulateSamples(dev: Device, profile: Profile, random: () => number, sessionMs: number) {
  const base = profile.baseDelayMs[0] + random() * (profile.baseDelayMs[1] - profile.baseDelayMs[0]);
  const link: LinkProfile = { ...profile.link, baseDelayMs: base };
  const up = new DelayModel(() => link, "up", random, 0);
  const down = new DelayModel(() => link, "down", random, 0);
  const sends: number[] = [];
  for (let i = 0; i < BURST.count; i++) sends.push(i * BURST.intervalMs);
  for (let t = BURST.count * BURST.intervalMs + PING_INTERVAL_MS; t < sessionMs; t += PING_INTERVAL_MS * (0.9 + 0.2 * random())) sends.push(t);
  const exchanges = sends.map((s) => {
    const t1 = s + up.delayAt(s);
    const t2 = t1 + SERVER_HOLD_MS;
    return { t0: quantize(dev.local(s)), t1, t2, t3: quantize(dev.local(t2 + down.delayAt(t2))) };
  });
  // A sample is complete when the next ping (carrying its t3) arrives; the gateway batches it.
  return exchanges.slice(0, -1).map((times, i) => ({
    sample: evaluateExchange(times, opts),
    knownAtMs: exchanges[i + 1]!.t1 + GATEWAY_BATCH_MS,
  }));
}

/** The previous estimator, for comparison: the min-RTT sample of the fresh window, no drift. */
function minRttOffset(window: readonly ClockSampleValue[], atMs: number): number | undefined {
  const fresh = freshWindow(window, atMs, opts);
  if (fresh.length === 0) return undefined;
  return fresh.reduce((best, s) => (s.rttMs <= best.rttMs ? s : best)).offsetMs;
}

interface Errors {
  drift: number[];
  seedKey: number[];
  minRtt: number[];
  lastSample: number[];
  /** Drift filter reads in the session's first 30 s (the window still holds every sample), and after. */
  driftFirst30s: number[];
  driftAfter30s: number[];
  covered: number;
  reads: number;
  stale: Map<number, { errors: number[]; seedKey: number[]; covered: number }>;
}

function runProfile(profile: Profile, o: { devices: number; minutes: number; reads: number; seed: number }) {
  const random = seededRandom(o.seed);
  const sessionMs = o.minutes * 60_000;
  const e: Errors = { drift: [], seedKey: [], minRtt: [], lastSample: [], driftFirst30s: [], driftAfter30s: [], covered: 0, reads: 0, stale: new Map() };
  for (const age of STALE_AGES_MS) e.stale.set(age, { errors: [], seedKey: [], covered: 0 });
  const drifts: number[] = [];
  for (let d = 0; d < o.devices; d++) {
    const dev = device(random);
    const samples = simulateSamples(dev, profile, random, sessionMs);
    // The clock service's state after each batch: what a reader finds at a given time.
    const states: Array<{ atMs: number; session: ClockFilterState; seedKeyMs: number; last: ClockSampleValue }> = [];
    let session: ClockFilterState | undefined;
    for (const { sample, knownAtMs } of samples) {
      if (!sample) continue;
      session = advanceClockFilter(session ?? { window: [], filter: undefined }, [sample], opts)!;
      states.push({ atMs: knownAtMs, session, seedKeyMs: estimateAt(session, knownAtMs, opts).offsetMs, last: sample });
    }
    if (states.length === 0) continue;
    const final = states[states.length - 1]!;
    drifts.push(Math.abs(final.session.filter.drift * 1e6 + dev.driftPpm));
    const firstKnown = states[0]!.atMs;
    let k = 0;
    const readTimes = Array.from({ length: o.reads }, () => firstKnown + random() * (sessionMs - firstKnown)).sort((a, b) => a - b);
    for (const t of readTimes) {
      while (k + 1 < states.length && states[k + 1]!.atMs <= t) k++;
      const s = states[k]!;
      const truth = dev.trueOffset(t);
      const est = estimateAt(s.session, t, opts);
      const err = Math.abs(est.offsetMs - truth);
      e.drift.push(err);
      (t < 30_000 ? e.driftFirst30s : e.driftAfter30s).push(err);
      e.reads++;
      if (err <= est.errorMs) e.covered++;
      e.seedKey.push(Math.abs(s.seedKeyMs - truth));
      const m = minRttOffset(s.session.window, t);
      if (m !== undefined) e.minRtt.push(Math.abs(m - truth));
      e.lastSample.push(Math.abs(s.last.offsetMs - truth));
    }
    for (const age of STALE_AGES_MS) {
      const t = final.atMs + age;
      const est = estimateAt(final.session, t, opts);
      const err = Math.abs(est.offsetMs - dev.trueOffset(t));
      const bucket = e.stale.get(age)!;
      bucket.errors.push(err);
      bucket.seedKey.push(Math.abs(final.seedKeyMs - dev.trueOffset(t)));
      if (err <= est.errorMs) bucket.covered++;
    }
  }
  const stats = (v: number[]) => ({ p50: round(percentile(v, 50), 4), p99: round(percentile(v, 99), 4), p999: round(percentile(v, 99.9), 4), max: round(Math.max(...v), 4) });
  return {
    profile: profile.name,
    description: profile.description,
    reads: e.reads,
    absErrorMs: {
      driftFilter: stats(e.drift),
      driftFilterFirst30s: stats(e.driftFirst30s),
      driftFilterAfter30s: stats(e.driftAfter30s),
      seedKeyAsIs: stats(e.seedKey),
      minRttWindow: stats(e.minRtt),
      lastSample: stats(e.lastSample),
    },
    errorBoundCoverage: round(e.covered / e.reads, 4),
    driftErrorPpmAtEnd: { p50: round(percentile(drifts, 50), 3), p99: round(percentile(drifts, 99), 3) },
    staleReads: Object.fromEntries(
      [...e.stale].map(([age, b]) => [
        `${age / 1000}s`,
        { driftFilter: stats(b.errors), errorBoundCoverage: round(b.covered / b.errors.length, 4), seedKeyAsIs: stats(b.seedKey) },
      ]),
    ),
  };
}

runBench(async () => {
  const o = intArgs({ devices: 200, minutes: 10, reads: 200, seed: 1 });
  const started = performance.now();
  const results = PROFILES.map((p) => runProfile(p, o));
  writeResults("clock-drift", {
    options: o,
    model: {
      devices: "offset +-10 s, drift +-100 ppm (uniform), linear",
      pings: `burst of ${BURST.count} at ${BURST.intervalMs} ms, then every ${PING_INTERVAL_MS} ms +-10%`,
      sampleKnown: `when the next ping arrives, + ${GATEWAY_BATCH_MS} ms gateway batching`,
      clientResolutionMs: CLIENT_RESOLUTION_MS,
      reads: "uniform over each session after its first sample",
    },
    machine: { cpus: cpus().length, loadavg: loadavg().map((l) => round(l, 2)), note: "a simulation: CPU load does not change its numbers" },
    elapsedS: round((performance.now() - started) / 1000, 1),
    results,
  });
});
