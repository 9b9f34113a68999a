import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort } from "../scripts/local-redis.js";
import { EXIT } from "../clients/cli/cli-errors.js";
import { startStack, type Stack } from "./support/stack.js";
import { startSwitchProxy } from "./support/switch-proxy.js";

const MAIN = resolve("clients/cli/main.ts");
const REGISTER = resolve("test/support/register-ts.cjs");

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The node arguments and environment that run the real `groovebox` command from its TypeScript sources. */
function command(configFile: string, server: string, args: string[]) {
  // With -e, node passes the arguments from argv[1] on; main.ts reads them from argv[2].
  const script = `process.argv.splice(1, 0, "groovebox"); require(${JSON.stringify(MAIN)})`;
  return {
    argv: ["-r", REGISTER, "-e", script, "--", ...args],
    env: { ...process.env, GROOVEBOX_CONFIG: configFile, GROOVEBOX_SERVER: server },
  };
}

/** Runs the real `groovebox` command as a child process, to its end. */
function groovebox(configFile: string, server: string, ...args: string[]): Promise<Run> {
  const { argv, env } = command(configFile, server, args);
  return new Promise((done) => {
    execFile(process.execPath, argv, { env, timeout: 20_000 }, (err, stdout, stderr) =>
      done({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Long-running commands started by the tests: killed after the tests if still running (a failed test). */
const running = new Set<ChildProcess>();
afterAll(() => {
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

/** A long-running `groovebox` command: its output lines as they come, and Ctrl-C. */
interface Running {
  /** Resolves with the first line from now on (or already printed, unread) that matches. */
  next(match: (line: string) => boolean, what: string): Promise<string>;
  /** Ctrl-C; resolves with the exit code and stderr. */
  interrupt(): Promise<{ code: number | null; stderr: string }>;
  /** Resolves with the exit code and stderr when the command ends by itself. */
  exit(): Promise<{ code: number | null; stderr: string }>;
  /** Stops reading its output, as `| head -1` does once it has its line. */
  stopReading(): void;
}

/**
 * Starts `groovebox` as a script would: stdin is not a terminal but a pipe, ended at once (as
 * when a script's input runs out), and stdout and stderr are pipes.
 */
function spawnGroovebox(configFile: string, server: string, ...args: string[]): Running {
  const { argv, env } = command(configFile, server, args);
  const child = spawn(process.execPath, argv, { env, stdio: ["pipe", "pipe", "pipe"] });
  child.stdin.end();
  running.add(child);
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const unread: string[] = [];
  let waiter: (() => void) | undefined;
  createInterface({ input: child.stdout }).on("line", (line) => {
    unread.push(line);
    waiter?.();
  });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return {
    async next(match, what) {
      for (;;) {
        const i = unread.findIndex(match);
        if (i >= 0) return unread.splice(0, i + 1).at(-1)!;
        unread.length = 0;
        const ended = await Promise.race([new Promise<false>((r) => (waiter = () => r(false))), exited.then(() => true)]);
        if (ended && !unread.some(match)) throw new Error(`groovebox exited before printing ${what}: ${stderr}`);
      }
    },
    async interrupt() {
      child.kill("SIGINT");
      return { code: await exited, stderr };
    },
    async exit() {
      return { code: await exited, stderr };
    },
    stopReading() {
      child.stdout.destroy();
    },
  };
}

/**
 * `groovebox` in a terminal of 80 x 24 (a pseudo-terminal from util-linux `script`): the
 * screens it draws, and Ctrl-C typed at the keyboard.
 */
function grooveboxInTerminal(configFile: string, server: string, ...args: string[]) {
  const { argv, env } = command(configFile, server, args);
  const quoted = [process.execPath, ...argv].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  const child = spawn("script", ["-qfec", `stty cols 80 rows 24; exec ${quoted}`, "/dev/null"], { env, stdio: ["pipe", "pipe", "pipe"] });
  running.add(child);
  let raw = "";
  let changed: (() => void) | undefined;
  child.stdout.on("data", (d: Buffer) => {
    raw += d.toString();
    changed?.();
  });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  /** The last whole screen drawn (each starts at the cursor's home), as plain lines. */
  const screen = () => {
    const frames = raw.split("\x1b[H");
    const last = frames.length > 2 ? frames.at(-2)! : "";
    return last.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").split(/\r?\n/);
  };
  return {
    raw: () => raw,
    async screenWhere(match: (lines: string[]) => boolean, what: string): Promise<string[]> {
      while (!match(screen())) {
        const ended = await Promise.race([new Promise<false>((r) => (changed = () => r(false))), exited.then(() => true)]);
        if (ended) throw new Error(`groovebox exited before drawing ${what}: ${raw}`);
      }
      return screen();
    },
    async ctrlC(): Promise<number | null> {
      child.stdin.write("\x03");
      return exited;
    },
  };
}

describe("the groovebox CLI against a running stack", () => {
  let stack: Stack;
  let gw: string;
  const dir = mkdtempSync(join(tmpdir(), "groovebox-cli-"));
  const ada = (...args: string[]) => groovebox(join(dir, "ada.json"), gw, ...args);
  const bob = (...args: string[]) => groovebox(join(dir, "bob.json"), gw, ...args);
  beforeAll(async () => {
    stack = await startStack();
    gw = stack.gatewayUrls[0]!;
  });
  afterAll(async () => {
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  // Each run of the CLI compiles its sources first (about a second, more on a busy machine).
  it("logs in, creates a room and plays as its DJ; a listener joins, sees the members, and may not command", async () => {
    expect(await ada("login", "Ada")).toMatchObject({ code: 0, stderr: "" });
    expect(statSync(join(dir, "ada.json")).mode & 0o777).toBe(0o600);
    const created = await ada("--json", "create", "Friday");
    expect(created.code).toBe(0);
    const room = JSON.parse(created.stdout) as { roomCode: string; currentDjId: string };

    expect((await bob("login", "Bob")).code).toBe(0);
    const joined = await bob("join", ` ${room.roomCode.slice(0, 3).toLowerCase()}-${room.roomCode.slice(3)} `);
    expect(joined).toMatchObject({ code: 0, stderr: "" });
    expect(joined.stdout).toMatch(new RegExp(`joined ${room.roomCode} \\(Friday\\): 2 members, DJ Ada`));
    const members = JSON.parse((await bob("--json", "members")).stdout) as { members: Array<{ displayName: string; isDj?: boolean }> };
    expect(members.members.map((m) => [m.displayName, m.isDj ?? false])).toEqual([
      ["Ada", true],
      ["Bob", false],
    ]);

    const refused = await bob("play", "song-1");
    expect(refused.code).toBe(EXIT.refused);
    expect(refused.stderr).toBe("groovebox: only the room's DJ may control playback\n");

    const played = await ada("play", "song-42", "--at", "30000", "--duration", "215000");
    expect(played).toMatchObject({ code: 0, stderr: "" });
    expect(played.stdout).toMatch(/^playing song-42 from 0:30\.000: everyone starts in \d+ ms\n$/);
    const status = async (...args: string[]) => (JSON.parse((await ada("--json", ...args)).stdout) as { status: string }).status;
    expect(await status("pause")).toBe("PLAYBACK_STATUS_PAUSED");
    expect(await status("resume")).toBe("PLAYBACK_STATUS_PLAYING");
    expect(await status("seek", "60000")).toBe("PLAYBACK_STATUS_PLAYING");
    expect(await status("stop")).toBe("PLAYBACK_STATUS_IDLE");
    expect((await bob("members")).stdout).toMatch(/^room \w{6} \(Friday\): nothing playing\n {2}Ada +DJ/);
  }, 120_000);

  it("explains each failure in one line, with its exit code", async () => {
    const carol = (...args: string[]) => groovebox(join(dir, "carol.json"), gw, ...args);
    const cases: Array<[Run, number, RegExp]> = [
      [await carol("create"), EXIT.notLoggedIn, /^groovebox: not logged in: groovebox login <name>\n$/],
      [await carol("login", "Carol"), EXIT.ok, /^$/],
      [await carol("members"), EXIT.usage, /^groovebox: not in a room: /],
      [await carol("join", "ABC"), EXIT.usage, /^groovebox: room_code must be 6 letters or digits\n$/],
      [await carol("join", "ZZZZZ9"), EXIT.notFound, /^groovebox: no room with code ZZZZZ9\n$/],
      [await carol("watch"), EXIT.usage, /^groovebox: not in a room: groovebox watch <code>, or groovebox join <code> first\n$/],
      [await carol("watch", "ZZZZZ9"), EXIT.notFound, /^groovebox: no room with code ZZZZZ9\n$/],
      [await carol("seek", "soon"), EXIT.usage, /^groovebox: not a number of milliseconds: soon\n$/],
      [await carol("dance"), EXIT.usage, /unknown command 'dance'/],
      [await groovebox(join(dir, "carol.json"), `http://127.0.0.1:${await freePort()}`, "login", "Carol"), EXIT.unavailable, /^groovebox: cannot reach the server at /],
    ];
    for (const [run, code, stderr] of cases) expect([run.code, run.stderr]).toEqual([code, expect.stringMatching(stderr)]);
  }, 120_000);

  const configOf = (name: string) => join(dir, `${name.toLowerCase()}.json`);
  /** A user with their own config, logged in. */
  const loggedIn = async (name: string) => {
    const run = (...args: string[]) => groovebox(configOf(name), gw, ...args);
    expect((await run("login", name)).code).toBe(EXIT.ok);
    return run;
  };
  /** Creates a room as this user: its code. */
  const createRoom = async (run: (...args: string[]) => Promise<Run>, name = "") =>
    (JSON.parse((await run("--json", "create", name)).stdout) as { roomCode: string }).roomCode;

  it("watches the room: JSON lines as events happen, the clock, the position ticking; Ctrl-C ends it", async () => {
    const eve = await loggedIn("Eve");
    const code = await createRoom(eve, "Saturday");
    const watch = spawnGroovebox(configOf("Eve"), gw, "watch", "--json");
    type Line = { type: string; [k: string]: unknown };
    const next = async (what: string, match: (l: Line) => boolean) => JSON.parse(await watch.next((s) => match(JSON.parse(s) as Line), what)) as Line;

    const joined = await next("the room", (l) => l.type === "room");
    expect(joined.room).toMatchObject({ roomCode: code, members: [{ displayName: "Eve", isDj: true, connected: true }] });
    const clock = (await next("a status with the clock", (l) => l.type === "status" && l.clock !== null)).clock as Record<string, number>;
    expect(Object.keys(clock).sort()).toEqual(["driftPpm", "errorBoundMs", "offsetMs", "rttMs", "sampleCount"]);
    expect(clock.rttMs).toBeGreaterThan(0);

    await (await loggedIn("Dan"))("join", code);
    expect(await next("Dan joining", (l) => l.type === "event" && l.memberJoined !== undefined)).toMatchObject({ memberJoined: { member: { displayName: "Dan" } } });

    await eve("play", "song-7", "--duration", "600000");
    const started = await next("the start", (l) => l.type === "event" && l.playbackStarted !== undefined);
    expect(started).toMatchObject({ playbackStarted: { trackId: "song-7" } });
    const startAt = (started.playbackStarted as { startAtServerTime: number }).startAtServerTime;
    const playing = async () =>
      (await next("a status after the start instant", (l) => l.type === "status" && (l.serverTimeMs as number) > startAt)).playback as { positionMs: number };
    const first = await playing();
    const second = await playing();
    expect(second.positionMs).toBeGreaterThan(first.positionMs);

    // The watch's own device reports its sync every 5 s; the room hears of it.
    const report = await next("Eve's sync report", (l) => l.type === "event" && l.memberSyncChanged !== undefined);
    expect(report).toMatchObject({ memberSyncChanged: { sync: { report: { correctionTier: expect.any(String), rttMs: expect.any(Number) } } } });

    expect(await watch.interrupt()).toEqual({ code: 0, stderr: "" });
  }, 120_000);

  it("run from a script (stdin an ended pipe, not a terminal), keeps watching: its connection stays up and events keep coming", async () => {
    const kim = await loggedIn("Kim");
    const code = await createRoom(kim);
    const watch = spawnGroovebox(configOf("Kim"), gw, "watch", "--json");
    type Line = { type: string; [k: string]: unknown };
    const seen: Line[] = [];
    const next = async (what: string, match: (l: Line) => boolean) =>
      JSON.parse(
        await watch.next((s) => {
          seen.push(JSON.parse(s) as Line);
          return match(seen.at(-1)!);
        }, what),
      ) as Line;
    const since = (await next("the room", (l) => l.type === "room")).serverTimeMs as number;
    // Seconds after its input ended, it is still connected...
    const later = await next("a status 3 s later", (l) => l.type === "status" && (l.serverTimeMs as number) > since + 3000);
    expect(later).toMatchObject({ connection: "connected" });
    // ...and hears the room.
    await (await loggedIn("Lou"))("join", code);
    await next("Lou joining", (l) => l.type === "event" && l.memberJoined !== undefined);
    expect(await next("a status after it", (l) => l.type === "status")).toMatchObject({ connection: "connected" });
    expect(seen.filter((l) => l.type === "connection")).toEqual([]);
    expect(await watch.interrupt()).toEqual({ code: 0, stderr: "" });
  }, 120_000);

  it("ends with a one-line reason and exit code 3 when the server stops accepting its login, instead of idling", async () => {
    // Kim's gateway is replaced by one with another JWT secret (a restart with a new secret).
    const other = await startStack();
    const proxy = await startSwitchProxy(gw);
    try {
      const run = (...args: string[]) => groovebox(configOf("Max"), proxy.url, ...args);
      expect((await run("login", "Max")).code).toBe(EXIT.ok);
      await createRoom(run);
      const watch = spawnGroovebox(configOf("Max"), proxy.url, "watch", "--json");
      await watch.next((s) => (JSON.parse(s) as { type: string }).type === "room", "the room");
      proxy.switchTo(other.gatewayUrls[0]!);
      const closed = JSON.parse(await watch.next((s) => (JSON.parse(s) as { status?: string }).status === "closed", "the end")) as object;
      expect(closed).toMatchObject({ type: "connection", status: "closed", error: expect.any(String) });
      expect(await watch.exit()).toEqual({ code: EXIT.notLoggedIn, stderr: "groovebox: not logged in, or the login expired: groovebox login <name>\n" });
    } finally {
      await proxy.close();
      await other.stop();
    }
  }, 120_000);

  it("ends quietly when its reader goes away", async () => {
    const ned = await loggedIn("Ned");
    await createRoom(ned);
    const watch = spawnGroovebox(configOf("Ned"), gw, "watch", "--json");
    await watch.next((s) => (JSON.parse(s) as { type: string }).type === "room", "the room");
    // Like `groovebox watch --json | head -1`: the next line it writes finds the pipe closed.
    watch.stopReading();
    expect(await watch.exit()).toEqual({ code: 0, stderr: "" });
  }, 120_000);

  it("piped, prints a line per event in words", async () => {
    const fay = await loggedIn("Fay");
    const code = await createRoom(fay);
    await (await loggedIn("Gus"))("join", code);
    const watch = spawnGroovebox(configOf("Gus"), gw, "watch");
    const at = (text: string) => new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3}  ${text}`);
    const next = (text: string) => watch.next((l) => at(text).test(l), text);
    await next(`watching room ${code}: 2 members \\(Ctrl-C to stop\\)$`);
    await next("clock synchronised: offset [-+]\\d+\\.\\d{3} ms  drift [-+][\\d.]+ ppm  rtt [\\d.]+ ms  error ±[\\d.]+ ms$");
    await fay("play", "song-8", "--at", "5000");
    await next("started song-8 at 0:05\\.000, everyone at \\d\\d:\\d\\d:\\d\\d\\.\\d{3} \\(buffer \\d+ ms\\)$");
    await fay("pause");
    await next("paused song-8 at \\d+:\\d\\d\\.\\d{3}$");
    expect(await watch.interrupt()).toEqual({ code: 0, stderr: "" });
  }, 120_000);

  it("in a terminal, draws the live view in 80 columns: members with their sync, the clock, the position", async () => {
    const hal = await loggedIn("Hal");
    const code = await createRoom(hal, "Sunday");
    const view = grooveboxInTerminal(configOf("Hal"), gw, "watch");
    const synced = await view.screenWhere((l) => l[1]?.startsWith("clock   offset") === true, "the clock");
    expect(synced[0]).toMatch(new RegExp(`^groovebox watch  room ${code} Sunday  connected +server \\d\\d:\\d\\d:\\d\\d\\.\\d{3}$`));
    expect(synced[2]).toBe("nothing playing");

    await (await loggedIn("Ivy"))("join", code);
    await hal("play", "song-9", "--duration", "600000");
    const playing = await view.screenWhere(
      (l) => /^playing song-9 {2}\d+:\d\d\.\d{3} \/ 10:00\.000$/.test(l[2] ?? "") && l.some((x) => /^\* Hal +DJ live {3}(idle|in sync)/.test(x)),
      "the track playing and Hal's own sync report",
    );
    expect(playing).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^members 2 +sync +offset ms +rtt +±err +lat +error$/),
        expect.stringMatching(/^ {2}Ivy {17}calls {2}no report yet$/),
        expect.stringMatching(/^\d\d:\d\d:\d\d\.\d{3} {2}Ivy joined$/),
        expect.stringMatching(/^\d\d:\d\d:\d\d\.\d{3} {2}started song-9 at 0:00\.000, everyone at /),
      ]),
    );
    for (const line of playing) expect(line.length).toBeLessThanOrEqual(80);

    // Ivy's own watch attaches a stream: Hal's list shows her live, and here by calls again
    // once it stops (her stream dropped; she stays a member).
    const ivyWatch = spawnGroovebox(configOf("Ivy"), gw, "watch", "--json");
    await view.screenWhere((l) => l.some((x) => /^ {2}Ivy {17}live /.test(x)), "Ivy live");
    expect(await ivyWatch.interrupt()).toEqual({ code: 0, stderr: "" });
    const away = await view.screenWhere((l) => l.some((x) => /^ {2}Ivy {17}calls /.test(x)), "Ivy here by calls again");
    expect(away).toEqual(expect.arrayContaining([expect.stringMatching(/^\d\d:\d\d:\d\d\.\d{3} {2}Ivy disconnected \(still a member\)$/)]));
    expect(await view.ctrlC()).toBe(0);
    // The terminal is given back as it was: main screen, cursor shown.
    expect(view.raw().endsWith("\x1b[?25h\x1b[?1049l")).toBe(true);
  }, 120_000);
});
