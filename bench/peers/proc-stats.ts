/**
 * CPU of processes, and the load of the whole machine, read from /proc (Linux), so
 * every server in the peer benchmark is measured the same way, and a window in which other
 * processes were busy shows up beside its numbers.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus } from "node:os";

/** Clock ticks per second of /proc's CPU times (USER_HZ; 100 on Linux). */
const TICKS_PER_SECOND = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;

/** CPU seconds (user + system) a process has used so far. */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name may hold spaces; the fields after it are space-separated.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** CPU seconds the whole machine spent busy so far (all cores). */
export function machineBusySeconds(): number {
  const [, user, nice, system, , , irq, softirq, steal] = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).map(Number);
  return (user! + nice! + system! + irq! + softirq! + steal!) / TICKS_PER_SECOND;
}

/** Pins a process (all its threads) to one CPU, when the machine has more than one. */
export function pinToCpu(pid: number, cpu: number): boolean {
  if (cpus().length < 2) return false;
  execFileSync("taskset", ["-a", "-c", "-p", String(cpu), String(pid)], { stdio: "ignore" });
  return true;
}

/** CPU of named process groups over a window, and what everything else on the machine used. */
export class CpuWindow {
  private readonly start: Map<string, number>;
  private readonly machineStart = machineBusySeconds();
  private readonly at = performance.now();

  constructor(private readonly groups: Record<string, number[]>) {
    this.start = new Map(Object.entries(groups).map(([name, pids]) => [name, sum(pids.map(processCpuSeconds))]));
  }

  /** Seconds elapsed, CPU seconds per group, and the rest of the machine's busy time. */
  end(): { seconds: number; cpuSeconds: Record<string, number>; othersCpuPercent: number } {
    const seconds = (performance.now() - this.at) / 1000;
    const cpuSeconds: Record<string, number> = {};
    for (const [name, pids] of Object.entries(this.groups)) cpuSeconds[name] = sum(pids.map(processCpuSeconds)) - this.start.get(name)!;
    const others = machineBusySeconds() - this.machineStart - sum(Object.values(cpuSeconds));
    return { seconds, cpuSeconds, othersCpuPercent: Math.max(0, (others / seconds) * 100) };
  }
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
