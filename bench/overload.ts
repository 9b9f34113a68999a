/**
 * bench:overload: what a gateway does when far more clients arrive than it can serve.
 *
 * 1. Logins: `--logins` (5000) guests log in at once, each on its own HTTP/2 connection and
 *    from an address of its own (X-Forwarded-For from a trusted proxy), as separate devices
 *    would, with a 5 s deadline (grpc-timeout), against the deployed limits. Reports how long each waited
 *    for its answer (p50/p99/max), the gRPC codes they got, and the gateway's resident memory
 *    before, at its peak and after.
 * 2. Slow clients: `--idle` (2000) connections that send nothing or half a request header, and
 *    how long the gateway takes to close them all (GATEWAY_IDLE_TIMEOUT_MS, 10 s by default).
 *
 * The services run as separate processes on this machine, so client and server share its
 * cores: compare numbers within one run. Results in bench/results/overload.json.
 */
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import * as http2 from "node:http2";
import * as net from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import { LoginRequestSchema } from "../gen/groovebox/auth/v1/auth_pb.js";
import { intArgs, now, round, runBench, startBenchStack, summarize, writeResults } from "./harness.js";

const opts = intArgs({ logins: 5000, idle: 2000, deadlineMs: 5000 });

/** The resident memory of a process, MB. */
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? round(Number(m[1]) / 1024, 1) : NaN;
}

/** Samples a process's memory every 50 ms until stopped; returns the peak. */
function watchPeak(pid: number) {
  let peak = rssMb(pid);
  const timer = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 50);
  return () => {
    clearInterval(timer);
    return peak;
  };
}

/** One Login on a connection of its own; resolves with the grpc-status and the time to it. */
function login(baseUrl: string, i: number, deadlineMs: number): Promise<{ status: string; ms: number }> {
  const started = now();
  const body = toBinary(LoginRequestSchema, create(LoginRequestSchema, { displayName: `guest-${i}` }));
  const frame = Buffer.alloc(5 + body.length);
  frame.writeUInt32BE(body.length, 1);
  frame.set(body, 5);
  return new Promise((resolve) => {
    const session = http2.connect(baseUrl);
    let status = "";
    let done = false;
    const finish = (s: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      session.destroy();
      resolve({ status: s, ms: now() - started });
    };
    // The client's own deadline, like any gRPC client's.
    const timer = setTimeout(() => finish("DEADLINE_EXCEEDED(client)"), deadlineMs + 1000);
    session.on("error", (err: Error) => finish(`connection error: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    const req = session.request({
      ":method": "POST",
      ":path": "/groovebox.auth.v1.AuthService/Login",
      "content-type": "application/grpc+proto",
      te: "trailers",
      "grpc-timeout": `${deadlineMs}m`,
      // Each from an address of its own, as named by a trusted proxy (many clients, not one).
      "x-forwarded-for": `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    });
    req.on("response", (h) => h["grpc-status"] !== undefined && (status = String(h["grpc-status"])));
    req.on("trailers", (t) => (status = String(t["grpc-status"] ?? status)));
    req.on("data", () => undefined);
    req.on("error", () => undefined);
    req.on("close", () => finish(status === "" ? `reset ${req.rstCode}` : status));
    req.end(frame);
  });
}

const CODE_NAMES: Record<string, string> = { "0": "OK", "4": "DEADLINE_EXCEEDED", "8": "RESOURCE_EXHAUSTED", "13": "INTERNAL", "14": "UNAVAILABLE" };

async function logins(baseUrl: string, pid: number) {
  const before = rssMb(pid);
  const peak = watchPeak(pid);
  const results = await Promise.all(Array.from({ length: opts.logins }, (_, i) => login(baseUrl, i, opts.deadlineMs)));
  const peakMb = peak();
  const codes: Record<string, number> = {};
  for (const r of results) {
    const name = CODE_NAMES[r.status] ?? r.status;
    codes[name] = (codes[name] ?? 0) + 1;
  }
  const byCode = Object.fromEntries(
    Object.keys(codes).map((name) => [name, summarize(results.filter((r) => (CODE_NAMES[r.status] ?? r.status) === name).map((r) => r.ms))]),
  );
  await new Promise((r) => setTimeout(r, 2000));
  return { count: opts.logins, deadlineMs: opts.deadlineMs, codes, timeMs: summarize(results.map((r) => r.ms)), timeMsByCode: byCode, gatewayRssMb: { before, peak: peakMb, after: rssMb(pid) } };
}

async function slowClients(baseUrl: string, pid: number) {
  const { hostname, port } = new URL(baseUrl);
  const before = rssMb(pid);
  const started = now();
  const closedAt: number[] = [];
  const sockets = await Promise.all(
    Array.from(
      { length: opts.idle },
      (_, i) =>
        new Promise<net.Socket>((resolve) => {
          const socket = net.connect(Number(port), hostname, () => {
            // Half of them send the start of a request and never finish its headers.
            if (i % 2 === 1) socket.write("POST /groovebox.auth.v1.AuthService/Login HTTP/1.1\r\nHost: groovebox\r\n");
            resolve(socket);
          });
          // Refused or reset before it was set up (shed): counts as closed by the server.
          socket.on("error", () => resolve(socket));
          socket.on("close", () => closedAt.push(now() - started));
        }),
    ),
  );
  const peakMb = rssMb(pid);
  const deadline = now() + 60_000;
  while (closedAt.length < sockets.length && now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const s of sockets) s.destroy();
  return {
    connections: opts.idle,
    closedByServer: closedAt.length,
    allClosedAfterMs: closedAt.length === sockets.length ? round(Math.max(...closedAt), 0) : null,
    gatewayRssMb: { before, withConnections: peakMb, after: rssMb(pid) },
  };
}

runBench(async () => {
  // The gateway's own limits, as deployed (the harness lifts them for the other benchmarks).
  const stack = await startBenchStack({
    gateways: 1,
    env: {
      GATEWAY_LOGIN_RATE_PER_ADDRESS: "30/1m",
      GATEWAY_LOGIN_RATE: "200/1s",
      GATEWAY_MAX_PENDING_CONNECTIONS: "64",
      GATEWAY_TRUSTED_PROXIES: "127.0.0.1",
    },
  });
  try {
    const gw = stack.gateways[0]!;
    // Other processes share the cores: their load is part of what the numbers mean.
    const loadBefore = loadavg().map((x) => round(x, 2));
    const loginResult = await logins(gw.url, gw.pid);
    const idleResult = await slowClients(gw.url, gw.pid);
    const machineLoad = { before: loadBefore, after: loadavg().map((x) => round(x, 2)) };
    writeResults("overload", { machineLoad, logins: loginResult, slowClients: idleResult });
  } finally {
    await stack.stop();
  }
});
