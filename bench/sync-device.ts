/**
 * A worker process of bench:sync: simulated devices, each an SDK client with its own skewed
 * clock and output latency behind its own delaying link, playing along with the room on a
 * simulated player. It measures everything against the truth: the host's clock, read the way
 * every service reads it (services/common/clock/host-clock.ts, re-anchored to the realtime
 * clock), so the truth here and the gateway's server time are one clock, as clock:check
 * measures. A min-RTT ping to the gateway over loopback checks it (truthVsGatewayMs); it is not
 * applied, since on a busy machine its own error is larger than the disagreement it would fix.
 * Records go to the parent.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ClockService } from "../gen/groovebox/clock/v1/clock_pb.js";
import { connectGroovebox, type ClockSyncOptions, type GrooveboxClient, type PlaybackUpdate } from "../clients/sdk/node.js";
import { position } from "../clients/sdk/playback/timeline.js";
import { SimulatedPlayer } from "./simulated-player.js";
import { createHostClock } from "../services/common/clock/host-clock.js";
import { SkewedClock } from "./skewed-clock.js";

export interface DeviceSpec {
  index: number;
  /** The device's link (a delay proxy port). */
  port: number;
  offsetMs: number;
  driftPpm: number;
  outputLatencyMs: number;
  /** Joins this long after the run starts (late joiners); 0 = with the others. */
  joinAfterMs: number;
  /** When joining with the others: connect this long after the run starts (the room fills over a few seconds). */
  connectAfterMs: number;
  /** Clock settings other than the SDK's defaults (a compared variant). */
  clockSync?: Partial<ClockSyncOptions>;
}

export type DeviceCommand =
  | { kind: "start"; gatewayUrl: string; roomCode: string; devices: DeviceSpec[]; runStartMs: number; sampleEveryMs: number }
  | { kind: "collect" };

/** One start as a device heard it: the timeline version, its error, the naive method's. */
export interface StartRecord {
  device: number;
  version: number;
  cause: string;
  /** Heard position minus the timeline's, at the instant the device's sound starts (ms). */
  errorMs: number;
  /** The same with the seed's method (offset of the last sample), when the start was ahead. */
  naiveErrorMs: number | null;
  /** False when the start instant had passed when the event arrived (a late join). */
  onTime: boolean;
}

/** [ms since run start, heard position error, SDK clock error, naive clock error, device], one row per device per sample. */
export type SampleRow = [number, number, number, number, number];

export interface DeviceRecords {
  starts: StartRecord[];
  samples: SampleRow[];
  corrections: { "in-sync": number; nudge: number; seek: number };
  lateJoins: Array<{ device: number; readyMs: number; errorMs: number | null }>;
  /** The gateway's clock minus this process's truth, by min-RTT pings over loopback, and their round trip. */
  truthVsGatewayMs: { offsetMs: number; rttMs: number };
  eventLoopDelayMs: { p50: number; p99: number; max: number };
  cpuMs: number;
  reconnects: number;
  /** Devices that never got connected, and why. */
  failedDevices: Array<{ device: number; error: string }>;
}

const send = (msg: object) => process.send!(msg);
/** The event-loop delay histogram samples every this many ms; its values include it. */
const LOOP_RESOLUTION_MS = 10;
// The benchmark is gone (it ended or was killed): so is this worker.
process.on("disconnect", () => process.exit(0));

/** The gateway's clock against `truth`, min-RTT over loopback. */
async function offsetFromGateway(gatewayUrl: string, truth: () => number): Promise<{ offsetMs: number; rttMs: number }> {
  const clock = createClient(ClockService, createGrpcTransport({ baseUrl: gatewayUrl }));
  let best = { rtt: Infinity, offset: 0 };
  for (let i = 0; i < 200; i++) {
    const t0 = truth();
    const r = await clock.ping({ clientSendTimeMs: t0 });
    const t3 = truth();
    const rtt = t3 - t0 - (r.serverSendTimeMs - r.serverReceiveTimeMs);
    if (rtt < best.rtt) best = { rtt, offset: (r.serverReceiveTimeMs - t0 + (r.serverSendTimeMs - t3)) / 2 };
  }
  return { offsetMs: best.offset, rttMs: best.rtt };
}

async function main(cmd: Extract<DeviceCommand, { kind: "start" }>): Promise<void> {
  const hostClock = createHostClock();
  const truth = () => hostClock.now();
  const truthVsGatewayMs = await offsetFromGateway(cmd.gatewayUrl, truth);
  const records: DeviceRecords = {
    starts: [],
    samples: [],
    corrections: { "in-sync": 0, nudge: 0, seek: 0 },
    lateJoins: [],
    truthVsGatewayMs,
    eventLoopDelayMs: { p50: 0, p99: 0, max: 0 },
    cpuMs: 0,
    reconnects: 0,
    failedDevices: [],
  };
  const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  loop.enable();
  const cpuStart = process.cpuUsage();
  const clients: GrooveboxClient[] = [];
  const timers: Array<ReturnType<typeof setInterval>> = [];

  async function runDevice(spec: DeviceSpec): Promise<void> {
    const clock = new SkewedClock(spec.offsetMs, spec.driftPpm, truth(), truth);
    const player = new SimulatedPlayer(spec.outputLatencyMs);
    let naiveOffset = 0;
    let playingVersion = -1;
    const joinStarted = truth();
    const client = await connectGroovebox({
      baseUrl: `http://127.0.0.1:${spec.port}`,
      displayName: `device-${spec.index}`,
      deviceId: `bench-device-${spec.index}`,
      clock,
      outputLatencyMs: spec.outputLatencyMs,
      clockSync: spec.clockSync,
    });
    clients.push(client);
    client.on("status", (s) => {
      if (s === "reconnecting") records.reconnects++;
    });
    client.clock.on("sample", (s) => (naiveOffset = (s.t1 - s.t0 + (s.t2 - s.t3)) / 2));

    const onUpdate = (u: PlaybackUpdate) => {
      const t = u.timeline;
      if (u.cause === "sync") return; // a confirmation: corrections take care of it
      if (!t.playing || u.start === undefined) {
        player.stop();
        playingVersion = t.version;
        return;
      }
      const now = clock.now();
      const onTime = u.start.localTimeMs > now + 5;
      // A start already past (a late join) begins a moment from now, where the track is then.
      const l = onTime ? u.start.localTimeMs : now + 5;
      const p = onTime ? u.start.positionMs : client.playback.positionAt(l)!;
      player.play(l, p, 1 + (client.clock.estimate()?.driftPpm ?? 0) * 1e-6);
      playingVersion = t.version;
      const soundAt = clock.toTrue(l + spec.outputLatencyMs);
      const naiveSoundAt = clock.toTrue(t.anchorTimeMs - naiveOffset);
      records.starts.push({
        device: spec.index,
        version: t.version,
        cause: u.cause,
        errorMs: p - position(t, soundAt),
        naiveErrorMs: onTime ? t.anchorTimeMs - naiveSoundAt : null,
        onTime,
      });
    };
    client.playback.on("update", onUpdate);
    const joined = new Promise<PlaybackUpdate | undefined>((resolve) => {
      const off = client.playback.on("update", (u) => {
        off();
        resolve(u);
      });
      setTimeout(() => resolve(undefined), 5000).unref();
    });
    await client.joinRoom(cmd.roomCode);
    if (spec.joinAfterMs > 0) {
      const first = await joined;
      const local = clock.now();
      const T = truth();
      const t = client.playback.timeline;
      const heard = t?.playing ? client.playback.positionAt(local - spec.outputLatencyMs) : undefined;
      records.lateJoins.push({
        device: spec.index,
        readyMs: T - joinStarted,
        errorMs: first && t && heard !== undefined ? heard - position(t, T) : null,
      });
    }

    // Once a second: measure what the room hears from this device, then let the SDK correct it.
    timers.push(
      setInterval(() => {
        const T = truth();
        const local = clock.fromTrue(T);
        const t = client.playback.timeline;
        if (t === undefined || !client.clock.synced) return;
        const clockError = client.clock.toServer(local) - T;
        const naiveError = local + naiveOffset - T;
        let heardError = NaN;
        if (t.playing && player.isPlaying && playingVersion === t.version && T >= t.anchorTimeMs) {
          heardError = player.heardAt(local) - position(t, T);
          player.apply(client.playback.correct({ localTimeMs: local, positionMs: player.fedAt(local) }), local);
        }
        records.samples.push([T - cmd.runStartMs, heardError, clockError, naiveError, spec.index]);
      }, cmd.sampleEveryMs),
    );
  }

  await Promise.all(
    cmd.devices.map(async (spec) => {
      await new Promise((r) => setTimeout(r, spec.joinAfterMs > 0 ? spec.joinAfterMs : spec.connectAfterMs));
      // A device that cannot connect (a machine too busy to answer in time) is reported, not
      // fatal: the others' records stand.
      await runDevice(spec).catch((err: unknown) => records.failedDevices.push({ device: spec.index, error: String(err) }));
    }),
  );
  send({ kind: "ready", truthVsGatewayMs });

  process.on("message", (m: DeviceCommand) => {
    if (m.kind !== "collect") return;
    for (const t of timers) clearInterval(t);
    hostClock.stop();
    loop.disable();
    const cpu = process.cpuUsage(cpuStart);
    records.cpuMs = (cpu.user + cpu.system) / 1000;
    records.eventLoopDelayMs = {
      p50: loop.percentile(50) / 1e6 - LOOP_RESOLUTION_MS,
      p99: loop.percentile(99) / 1e6 - LOOP_RESOLUTION_MS,
      max: loop.max / 1e6 - LOOP_RESOLUTION_MS,
    };
    for (const c of clients) {
      records.corrections["in-sync"] += c.playback.counts["in-sync"];
      records.corrections.nudge += c.playback.counts.nudge;
      records.corrections.seek += c.playback.counts.seek;
      c.close();
    }
    // Exit once the records are through the pipe (a busy parent may take a while to read them).
    process.send!({ kind: "records", records }, () => process.exit(0));
  });
}

process.once("message", (m: DeviceCommand) => {
  if (m.kind === "start") {
    main(m).catch((err: unknown) => {
      process.stderr.write(`device worker failed: ${String((err as Error)?.stack ?? err)}\n`);
      process.exit(1);
    });
  }
});
