/**
 * `npm run clock:check`: how far each groovebox service's clock is from the gateway's.
 *
 * Pings every service's ClockService/Ping (each serves it on its own port) in min-RTT bursts,
 * round after round, and prints each one's offset from the gateway with |offset| p50/p99/max
 * over the better half of the rounds by round trip (see services/clock/peer-offset.ts).
 * Exit code 0 when every service's |offset| p99 is within --max-offset-ms, 1 when one is not,
 * 2 when a service cannot be reached or the arguments are wrong.
 *
 *   npm run clock:check -- --rounds=200 --target scheduler=http://10.0.0.7:8084 --json
 *
 * The services default to the addresses npm start uses, or GATEWAY_URL (GATEWAY_PORT),
 * CLOCK_URL, ROOMS_URL, PLAYBACK_URL and SCHEDULER_URL from the environment; --target adds or
 * replaces one.
 */
import { parseArgs } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ClockService } from "../gen/groovebox/clock/v1/clock_pb.js";
import { measurePeerOffsets, type PeerOffsetSummary, type PingFn } from "../services/clock/peer-offset.js";

const env = process.env;

function defaultTargets(): Record<string, string> {
  return {
    clock: env.CLOCK_URL ?? "http://127.0.0.1:8081",
    rooms: env.ROOMS_URL ?? "http://127.0.0.1:8083",
    playback: env.PLAYBACK_URL ?? "http://127.0.0.1:8082",
    scheduler: env.SCHEDULER_URL ?? "http://127.0.0.1:8084",
  };
}

function usage(message: string): never {
  process.stderr.write(`clock:check: ${message}\n`);
  process.exit(2);
}

function parseOptions() {
  const { values } = parseArgs({
    options: {
      gateway: { type: "string", default: env.GATEWAY_URL ?? `http://127.0.0.1:${env.GATEWAY_PORT ?? 8080}` },
      target: { type: "string", multiple: true, default: [] },
      rounds: { type: "string", default: "100" },
      pings: { type: "string", default: "8" },
      "max-offset-ms": { type: "string", default: "0.1" },
      "pause-ms": { type: "string", default: "10" },
      json: { type: "boolean", default: false },
    },
  });
  const num = (name: keyof typeof values, min: number) => {
    const n = Number(values[name]);
    if (!Number.isFinite(n) || n < min) usage(`--${name} must be a number of at least ${min}`);
    return n;
  };
  const targets = defaultTargets();
  for (const t of values.target ?? []) {
    const m = /^([\w-]+)=(https?:\/\/.+)$/.exec(t);
    if (!m) usage(`--target ${t}: expected name=http://host:port`);
    targets[m[1]!] = m[2]!;
  }
  return {
    gateway: values.gateway!,
    targets,
    rounds: Math.floor(num("rounds", 1)),
    pings: Math.floor(num("pings", 1)),
    maxOffsetMs: num("max-offset-ms", 0),
    pauseMs: num("pause-ms", 0),
    json: values.json!,
  };
}

function pinger(baseUrl: string): PingFn {
  const client = createClient(ClockService, createGrpcTransport({ baseUrl }));
  return (clientSendTimeMs) => client.ping({ clientSendTimeMs }, { timeoutMs: 2000 });
}

const fmt = (ms: number, sign = false) => `${sign && ms >= 0 ? "+" : ""}${ms.toFixed(4)}`;

function table(results: Record<string, PeerOffsetSummary>, maxOffsetMs: number): string {
  const head = ["service", "offset ms", "|offset| p50", "p99", "max", "min rtt ms", "rounds used", ""];
  const rows = Object.entries(results).map(([name, r]) => [
    name,
    fmt(r.offsetMs, true),
    fmt(r.absP50Ms),
    fmt(r.absP99Ms),
    fmt(r.absMaxMs),
    fmt(r.minRttMs),
    `${r.roundsUsed}/${r.rounds}`,
    r.absP99Ms <= maxOffsetMs ? "ok" : `OVER ${maxOffsetMs} ms`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n");
}

async function main(): Promise<void> {
  const o = parseOptions();
  const now = () => performance.timeOrigin + performance.now();
  const reference = pinger(o.gateway);
  const targets = Object.fromEntries(Object.entries(o.targets).map(([name, url]) => [name, pinger(url)]));
  // Open every connection first, so no round measures a connection set-up.
  for (const [name, ping] of [["gateway", reference], ...Object.entries(targets)] as const) {
    await ping(now()).catch((err: unknown) => {
      usage(`${name} (${name === "gateway" ? o.gateway : o.targets[name]}) does not answer Ping: ${String((err as Error).message ?? err)}`);
    });
  }
  const results = await measurePeerOffsets({
    reference,
    targets,
    now,
    rounds: o.rounds,
    pingsPerBurst: o.pings,
    pause: () => new Promise((r) => setTimeout(r, o.pauseMs)),
  });
  const within = Object.values(results).every((r) => r.absP99Ms <= o.maxOffsetMs);
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ reference: o.gateway, targets: o.targets, rounds: o.rounds, pingsPerBurst: o.pings, maxOffsetMs: o.maxOffsetMs, within, results }, null, 2)}\n`);
  } else {
    process.stdout.write(`offsets from the gateway (${o.gateway}), ${o.rounds} rounds of ${o.pings}-ping bursts\n`);
    process.stdout.write(`${table(results, o.maxOffsetMs)}\n`);
  }
  process.exit(within ? 0 : 1);
}

main().catch((err: unknown) => usage(String((err as Error)?.stack ?? err)));
