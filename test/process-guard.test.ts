import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { exited } from "../scripts/processes.js";

/** Runs the fixture service until it exits or `until` sees a line; its pino lines and exit code. */
async function runFixture(fault: "rejection" | "exception", until?: (line: { msg?: string }) => boolean) {
  const main = resolve(__dirname, "fixtures/guarded-service.ts");
  const child = spawn(process.execPath, ["-r", resolve(__dirname, "support/register-ts.cjs"), "-e", `require(${JSON.stringify(main)})`], {
    env: { ...process.env, FIXTURE_FAULT: fault, FIXTURE_CALL_MS: "300" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines: Array<Record<string, unknown> & { msg?: string }> = [];
  let buffered = "";
  const seen = new Promise<void>((done) => {
    child.stdout.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      for (let i = buffered.indexOf("\n"); i >= 0; i = buffered.indexOf("\n")) {
        const line = JSON.parse(buffered.slice(0, i));
        buffered = buffered.slice(i + 1);
        lines.push(line);
        if (until?.(line)) done();
      }
    });
  });
  if (until) {
    await Promise.race([seen, exited(child)]);
    const alive = child.exitCode === null && child.signalCode === null;
    child.kill("SIGTERM");
    await exited(child);
    return { lines, alive, exitCode: child.exitCode };
  }
  await exited(child);
  return { lines, alive: false, exitCode: child.exitCode };
}

describe("process guard", () => {
  it("logs an unhandled rejection with its error and goes on serving", async () => {
    const { lines, alive } = await runFixture("rejection", (l) => l.msg === "call finished");
    const logged = lines.find((l) => l.event === "unhandledRejection");
    expect(logged).toMatchObject({ level: "error", service: "fixture", err: { message: "a promise nobody awaited" } });
    expect(String((logged!.err as { stack?: string }).stack)).toContain("guarded-service");
    // The call in progress finished, and the process was still there after it.
    expect(alive).toBe(true);
  }, 30_000);

  it("logs an uncaught exception, drains the call in progress, then exits 1", async () => {
    const { lines, exitCode } = await runFixture("exception");
    const msgs = lines.map((l) => l.msg);
    expect(lines.find((l) => l.event === "uncaughtException")).toMatchObject({ level: "fatal", err: { message: "a throw in a timer" } });
    expect(msgs.indexOf("call finished")).toBeGreaterThan(msgs.findIndex((m) => m?.startsWith("uncaught exception")));
    expect(msgs).toContain("stopped");
    expect(exitCode).toBe(1);
  }, 30_000);
});
