/**
 * npm run bench:sync -- [--devices=50] [--minutes=10] [--workers=4] [--seed=1] [--profiles=a,b] [--parallel=1] [--compare='{"settleForMs":0}']
 *
 * The sync-accuracy harness. Per network profile: N simulated devices, each an SDK client
 * with its own skewed clock (offset up to +-10 s, drift up to +-100 ppm) and output latency,
 * each behind its own delay-proxy link (one links process), in `workers` device processes,
 * against the real services as separate processes (private redis-server). A DJ (an SDK
 * client on a direct link) starts, seeks, pauses, resumes and starts new tracks; some
 * devices join late. Every device plays along on a simulated player that applies the SDK's
 * corrections. Devices connect over 10 s and warm up for 30 s before the first start. The
 * harness knows the truth (the host's clock, read by every process as the services read it:
 * one clock with the gateway's server time), so it reports: start spread per start, per-device start
 * error (which is the device's clock error at the start instant: the simulated player starts
 * exactly where the SDK says), heard position error over time, the SDK's clock error (overall,
 * in each device's first minute and after) and the seed's method (offset of the last sample)
 * side by side, corrections by tier, late joins, and the machine's load.
 * `--parallel=N` runs N profiles at a time against the same services (each with its own room,
 * DJ, links and device processes), for a machine without the hours to run them one by one;
 * the load is recorded beside each profile. `--compare=<JSON>` gives the odd-numbered devices these
 * clock settings (ClockSyncOptions) and reports them beside the even ones, which keep the SDK's
 * defaults: an A/B test of a setting under the same network and the same load, in the same room.
 * Results: bench/results/sync.json and bench/results/sync.svg.
 */
import { fork, type ChildProcess } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { connectGroovebox, type GrooveboxClient } from "../clients/sdk/node.js";
import { seededRandom } from "./delay-proxy.js";
import { percentile, round, runBench, sleep, startBenchStack, writeResults, type BenchStack } from "./harness.js";
import type { ClockSyncOptions } from "../clients/sdk/node.js";
import type { DeviceCommand, DeviceRecords, DeviceSpec, SampleRow, StartRecord } from "./sync-device.js";
import type { LinksCommand } from "./sync-links.js";
import { plotPositionErrors, type PlotSeries } from "./sync-plot.js";
import { SYNC_PROFILES, type SyncProfile } from "./sync-profiles.js";

function args() {
  const out = { devices: 50, minutes: 10, workers: 4, seed: 1, profiles: SYNC_PROFILES.map((p) => p.name), "command-every-s": 40, "late-joiners": 5, "warm-up-s": 30, parallel: 1, compare: "" };
  for (const arg of process.argv.slice(2)) {
    const m = /^--([\w-]+)=(.+)$/.exec(arg);
    if (!m) continue;
    if (m[1] === "profiles") out.profiles = m[2]!.split(",");
    else if (m[1] === "compare") out.compare = m[2]!;
    else if (m[1]! in out) (out as Record<string, unknown>)[m[1]!] = Number(m[2]);
  }
  return out;
}

const opts = args();
/** The clock settings of the compared (odd-numbered) devices, if any. */
const compared: Partial<ClockSyncOptions> | undefined = opts.compare === "" ? undefined : JSON.parse(opts.compare);

/** Children that are still running: killed if the benchmark fails. */
const children = new Set<ChildProcess>();

/**
 * A child process of this benchmark, and its next message of a kind. `failed` rejects when it
 * exits before it was done (a crash), so the run stops instead of waiting for it.
 */
function child(script: string): { proc: ChildProcess; next<T>(kind: string): Promise<T>; failed: Promise<never>; done(): void } {
  const proc = fork(resolve(`dist/bench/${script}.js`), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  children.add(proc);
  let finished = false;
  const failed = new Promise<never>((_, rej) =>
    proc.once("exit", (code) => {
      children.delete(proc);
      if (!finished) rej(new Error(`${script} exited (${code}) before it was done`));
    }),
  );
  failed.catch(() => undefined); // observed through the run's race
  const waiting = new Map<string, (m: unknown) => void>();
  const early = new Map<string, unknown>();
  proc.on("message", (m: { kind: string }) => {
    const w = waiting.get(m.kind);
    if (w) {
      waiting.delete(m.kind);
      w(m);
    } else early.set(m.kind, m);
  });
  return {
    proc,
    failed,
    done: () => (finished = true),
    next<T>(kind: string): Promise<T> {
      if (early.has(kind)) {
        const m = early.get(kind) as T;
        early.delete(kind);
        return Promise.resolve(m);
      }
      return Promise.race([failed, new Promise<T>((res) => waiting.set(kind, res as (m: unknown) => void))]);
    },
  };
}

/** CPU seconds used so far by a process (from /proc), or NaN. */
function cpuSecondsOf(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/** The machine's busy fraction between two /proc/stat readings. */
function machineTicks(): { busy: number; total: number } {
  const cpu = readFileSync("/proc/stat", "utf8").split("\n")[0]!.split(/\s+/).slice(1).map(Number);
  const idle = cpu[3]! + cpu[4]!;
  const total = cpu.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

const summary = (values: number[]) => ({
  count: values.length,
  p50: round(percentile(values, 50)),
  p99: round(percentile(values, 99)),
  max: round(values.reduce((a, b) => Math.max(a, b), -Infinity)),
});

/** Runs the DJ's script for `minutes`: start, then every commandEvery s a seek, pause + resume, or new track. */
async function djScript(dj: GrooveboxClient, minutes: number, random: () => number): Promise<Array<{ atS: number; command: string; version: number; error?: string }>> {
  const log: Array<{ atS: number; command: string; version: number; error?: string }> = [];
  const t0 = Date.now();
  // A command the machine was too busy to answer in time is logged, and the script goes on.
  const note = async (command: string, run: () => Promise<{ version: bigint }>) => {
    const atS = round((Date.now() - t0) / 1000, 1);
    await run().then(
      (r) => log.push({ atS, command, version: Number(r.version) }),
      (err: unknown) => log.push({ atS, command, version: -1, error: String(err) }),
    );
  };
  const trackMs = 30 * 60_000;
  let track = 1;
  await note("start", () => dj.start(`track-${track}`, { trackDurationMs: trackMs }));
  const end = t0 + minutes * 60_000;
  let k = 0;
  while (Date.now() + opts["command-every-s"] * 1000 < end) {
    await sleep(opts["command-every-s"] * 1000);
    const kind = ["seek", "pause", "start"][k++ % 3];
    if (kind === "seek") {
      const positionMs = Math.floor(random() * 20 * 60_000);
      await note("seek", () => dj.seek(positionMs));
    } else if (kind === "pause") {
      await note("pause", () => dj.pause());
      await sleep(5000);
      await note("resume", () => dj.resume());
    } else {
      const positionMs = Math.floor(random() * 60_000);
      await note("start", () => dj.start(`track-${++track}`, { trackDurationMs: trackMs, positionMs }));
    }
  }
  await sleep(Math.max(0, end - Date.now()));
  return log;
}

async function runProfile(stack: BenchStack, profile: SyncProfile, seed: number) {
  const random = seededRandom(seed);
  const gateway = stack.gateways[0]!;
  const dj = await connectGroovebox({ baseUrl: gateway.url, displayName: "DJ", reportIntervalMs: 0 });
  const room = await dj.createRoom(`bench ${profile.name}`);
  const n = opts.devices;
  const uniform = (lo: number, hi: number) => lo + random() * (hi - lo);
  const latencies = [5, 10, 20, 40, 150, 250];
  const links = Array.from({ length: n }, (_, i) => ({
    profile: { ...profile.link, baseDelayMs: uniform(...profile.baseDelayMs) },
    seed: seed * 1000 + i,
  }));
  const linksHost = child("sync-links");
  linksHost.proc.send({ kind: "start", target: { host: "127.0.0.1", port: gateway.port }, links } satisfies LinksCommand);
  const { ports } = await linksHost.next<{ ports: number[] }>("ready");
  const runStartMs = performance.timeOrigin + performance.now();
  const specs: DeviceSpec[] = ports.map((port, i) => ({
    index: i,
    port,
    offsetMs: uniform(-10_000, 10_000),
    driftPpm: uniform(-100, 100),
    outputLatencyMs: latencies[i % latencies.length]!,
    joinAfterMs: i < opts["late-joiners"] ? (opts["warm-up-s"] + 60) * 1000 + i * 7_000 : 0,
    connectAfterMs: (i * 10_000) / n,
    clockSync: i % 2 === 1 ? compared : undefined,
  }));
  const workers = Array.from({ length: opts.workers }, () => child("sync-device"));
  workers.forEach((w, k) =>
    w.proc.send({
      kind: "start",
      gatewayUrl: gateway.url,
      roomCode: room.roomCode,
      devices: specs.filter((s) => s.index % opts.workers === k && s.joinAfterMs === 0).concat(specs.filter((s) => s.index % opts.workers === k && s.joinAfterMs > 0)),
      runStartMs,
      sampleEveryMs: 1000,
    } satisfies DeviceCommand),
  );
  // Devices that join at once connect over the first seconds (each worker staggers its own)
  // and warm up before the DJ starts: 50 devices bursting pings in 4 processes at the same
  // instant would measure this machine's event loops, not the SDK. Late joiners join during
  // the run and are measured on their own.
  // A crashed worker or links process ends the run (and the benchmark stops the services).
  const crashed = Promise.race([linksHost.failed, ...workers.map((w) => w.failed)]);
  const ready = Promise.all(workers.map((w) => w.next<{ truthVsGatewayMs: { offsetMs: number; rttMs: number } }>("ready")));
  ready.catch(() => undefined); // awaited after the run; a crash shows through `crashed`
  await Promise.race([sleep(opts["warm-up-s"] * 1000), crashed]);
  const gatewayCpu0 = cpuSecondsOf(gateway.pid);
  const machine0 = machineTicks();
  process.stderr.write(`${profile.name}: ${n} devices, running ${opts.minutes} min\n`);
  const commands = await Promise.race([djScript(dj, opts.minutes, random), crashed]);
  const truthVsGateway = (await ready).map((r) => ({ offsetMs: round(r.truthVsGatewayMs.offsetMs, 4), rttMs: round(r.truthVsGatewayMs.rttMs, 4) }));
  const gatewayCpuS = cpuSecondsOf(gateway.pid) - gatewayCpu0;
  const machine1 = machineTicks();
  for (const w of [...workers, linksHost]) w.done();
  for (const w of workers) w.proc.send({ kind: "collect" } satisfies DeviceCommand);
  const records = await Promise.all(workers.map((w) => w.next<{ records: DeviceRecords }>("records").then((m) => m.records)));
  linksHost.proc.send({ kind: "collect" } satisfies LinksCommand);
  const linkStats = await linksHost.next<{ cpuMs: number; eventLoopDelayMs: object }>("records");
  dj.close();
  // When each device connected, since the run started (the time base of its samples).
  const connectedAtMs = (device: number) => (specs[device]!.joinAfterMs > 0 ? specs[device]!.joinAfterMs : specs[device]!.connectAfterMs);
  return analyze(profile, records, commands, connectedAtMs, {
    truthVsGatewayMs: truthVsGateway,
    failedDevices: records.flatMap((r) => r.failedDevices),
    gatewayCpuPercent: round((gatewayCpuS / (opts.minutes * 60)) * 100, 1),
    machineBusyPercent: round(((machine1.busy - machine0.busy) / (machine1.total - machine0.total)) * 100, 1),
    loadavg: loadavg().map((x) => round(x, 2)),
    deviceWorkers: records.map((r) => ({ cpuPercent: round((r.cpuMs / (opts.minutes * 60_000)) * 100, 1), eventLoopDelayMs: r.eventLoopDelayMs, reconnects: r.reconnects })),
    links: { cpuPercent: round((linkStats.cpuMs / (opts.minutes * 60_000)) * 100, 1), eventLoopDelayMs: linkStats.eventLoopDelayMs },
  });
}

/** Each start's spread: the largest minus the smallest of its devices' errors (per timeline version, 2 devices or more). */
function spreads(starts: readonly StartRecord[], error: (s: StartRecord) => number | null): Array<{ version: number; devices: number; spreadMs: number }> {
  const byVersion = new Map<number, number[]>();
  for (const s of starts) {
    const e = error(s);
    if (e !== null) byVersion.set(s.version, [...(byVersion.get(s.version) ?? []), e]);
  }
  return [...byVersion.entries()]
    .filter(([, e]) => e.length >= 2)
    .map(([version, e]) => ({ version, devices: e.length, spreadMs: round(Math.max(...e) - Math.min(...e)) }));
}

const meanOf = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

/**
 * What the SDK achieved for a set of devices: their starts (on time) and samples. A start's
 * error is its device's clock error at the start instant (the harness places the start exactly
 * where the SDK says), so the clock error is also given by the age of the device's connection:
 * its first minute, while the filter still learns the drift, and after.
 */
function sdkFigures(starts: readonly StartRecord[], samples: readonly SampleRow[], connectedAtMs: (device: number) => number) {
  const heard = samples.filter((s) => Number.isFinite(s[1]));
  const young = (s: SampleRow) => s[0] - connectedAtMs(s[4]) < 60_000;
  const byStart = spreads(starts, (s) => s.errorMs);
  return {
    startSpreadMs: { ...summary(byStart.map((s) => s.spreadMs)), byStart },
    startErrorMs: { ...summary(starts.map((s) => Math.abs(s.errorMs))), mean: round(meanOf(starts.map((s) => s.errorMs))) },
    positionErrorMs: { ...summary(heard.map((s) => Math.abs(s[1]))), mean: round(meanOf(heard.map((s) => s[1]))) },
    clockErrorMs: {
      ...summary(samples.map((s) => Math.abs(s[2]))),
      mean: round(meanOf(samples.map((s) => s[2]))),
      firstMinute: summary(samples.filter(young).map((s) => Math.abs(s[2]))),
      afterFirstMinute: summary(samples.filter((s) => !young(s)).map((s) => Math.abs(s[2]))),
    },
  };
}

function analyze(
  profile: SyncProfile,
  records: DeviceRecords[],
  commands: Array<{ atS: number; command: string; version: number; error?: string }>,
  connectedAtMs: (device: number) => number,
  load: object,
) {
  const starts: StartRecord[] = records.flatMap((r) => r.starts).filter((s) => s.onTime);
  const samples = records.flatMap((r) => r.samples);
  // SYNC_DEBUG_DIR=... keeps every device's raw records per profile, for looking into outliers.
  if (process.env.SYNC_DEBUG_DIR) writeFileSync(resolve(process.env.SYNC_DEBUG_DIR, `sync-${profile.name}.json`), JSON.stringify(records));
  const heard = samples.filter((s) => Number.isFinite(s[1]));
  const buckets = new Map<number, number[]>();
  for (const [t, err] of heard) {
    const b = Math.floor(t / 10_000) * 10;
    buckets.set(b, [...(buckets.get(b) ?? []), Math.abs(err)]);
  }
  const series: PlotSeries = {
    profile: profile.name,
    buckets: [...buckets.entries()].sort((a, b) => a[0] - b[0]).map(([b, v]) => [b, percentile(v, 50), percentile(v, 99), Math.max(...v)]),
  };
  const corrections = { "in-sync": 0, nudge: 0, seek: 0 };
  for (const r of records) for (const k of Object.keys(corrections) as Array<keyof typeof corrections>) corrections[k] += r.corrections[k];
  // With --compare: the even devices (the SDK's defaults) and the odd ones (the compared settings), apart.
  const variant = (odd: boolean) =>
    sdkFigures(
      starts.filter((s) => s.device % 2 === 1 === odd),
      samples.filter((s) => s[4] % 2 === 1 === odd),
      connectedAtMs,
    );
  return {
    result: {
      profile: profile.name,
      description: profile.description,
      commands,
      sdk: {
        ...sdkFigures(starts, samples, connectedAtMs),
        corrections,
        lateJoins: records.flatMap((r) => r.lateJoins).map((j) => ({ ...j, readyMs: round(j.readyMs), errorMs: j.errorMs === null ? null : round(j.errorMs) })),
      },
      ...(compared && { compare: { defaults: variant(false), compared: { settings: compared, ...variant(true) } } }),
      naive: {
        startSpreadMs: summary(spreads(starts, (s) => s.naiveErrorMs).map((s) => s.spreadMs)),
        startErrorMs: summary(starts.map((s) => Math.abs(s.naiveErrorMs!))),
        clockErrorMs: { ...summary(samples.map((s) => Math.abs(s[3]))), mean: round(meanOf(samples.map((s) => s[3]))) },
      },
      load,
    },
    series,
  };
}

function table(results: Array<ReturnType<typeof analyze>["result"]>): string {
  const rows = [
    ["profile", "starts", "spread p50/p99/max", "start err p50/p99/max", "position err p50/p99/max", "clock err p99 (mean), 1st min / after", "naive spread p50/p99/max", "naive clock err p99", "nudge/seek"],
  ];
  const f = (s: { p50: number; p99: number; max: number }) => `${s.p50} / ${s.p99} / ${s.max}`;
  const sdkColumns = (name: string, sdk: ReturnType<typeof sdkFigures>) => [
    name,
    String(sdk.startSpreadMs.count),
    f(sdk.startSpreadMs),
    f(sdk.startErrorMs),
    f(sdk.positionErrorMs),
    `${sdk.clockErrorMs.p99} (${sdk.clockErrorMs.mean}), ${sdk.clockErrorMs.firstMinute.p99} / ${sdk.clockErrorMs.afterFirstMinute.p99}`,
  ];
  for (const r of results) {
    rows.push([...sdkColumns(r.profile, r.sdk), f(r.naive.startSpreadMs), String(r.naive.clockErrorMs.p99), `${r.sdk.corrections.nudge}/${r.sdk.corrections.seek}`]);
    if (r.compare) {
      rows.push([...sdkColumns(`${r.profile}, even devices: defaults`, r.compare.defaults), "", "", ""]);
      rows.push([...sdkColumns(`${r.profile}, odd devices: ${JSON.stringify(r.compare.compared.settings)}`, r.compare.compared), "", "", ""]);
    }
  }
  return rows.map((r) => `| ${r.join(" | ")} |`).join("\n").replace(/\n/, `\n|${rows[0]!.map(() => "---").join("|")}|\n`);
}

async function main(): Promise<void> {
  const profiles = SYNC_PROFILES.filter((p) => opts.profiles.includes(p.name));
  const stack = await startBenchStack({ gateways: 1, schedulers: 1, env: { GATEWAY_MAX_STREAMS_PER_USER: "1000" } });
  // Ctrl-C or a kill still stops the services (the device and link workers exit with us).
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => void stack.stop().finally(() => process.exit(130)));
  }
  const runs: Array<ReturnType<typeof analyze>> = [];
  try {
    // `parallel` lanes, each taking the next profile when its last one is done; results in profile order.
    let next = 0;
    const lane = async () => {
      for (let i = next++; i < profiles.length; i = next++) {
        runs[i] = await runProfile(stack, profiles[i]!, opts.seed + i);
        process.stderr.write(`${table([runs[i]!.result])}\n`);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, opts.parallel) }, lane));
  } finally {
    for (const c of children) c.kill();
    await stack.stop();
  }
  const results = runs.map((r) => r.result);
  const series = runs.map((r) => r.series);
  const svg = plotPositionErrors(series, `bench:sync: |heard position error| per 10 s, ${opts.devices} devices`);
  writeFileSync(resolve("bench/results/sync.svg"), svg);
  writeResults("sync", {
    machine: { cpus: cpus().length, node: process.version },
    options: opts,
    note: "errors in ms against the gateway's clock; position error = what the device's speaker plays minus the room's timeline; naive = the seed's method (offset of the last sample), same app otherwise",
    table: table(results),
    profiles: results,
  });
  process.stdout.write(`\n${table(results)}\n`);
}

runBench(main);
