import { execFile } from "node:child_process";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort } from "../scripts/local-redis.js";
import { EXIT } from "../clients/cli/cli-errors.js";
import { startStack, type Stack } from "./support/stack.js";

const MAIN = resolve("clients/cli/main.ts");
const REGISTER = resolve("test/support/register-ts.cjs");

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real `groovebox` command (from its TypeScript sources) as a child process. */
function groovebox(configFile: string, server: string, ...args: string[]): Promise<Run> {
  // With -e, node passes the arguments from argv[1] on; main.ts reads them from argv[2].
  const script = `process.argv.splice(1, 0, "groovebox"); require(${JSON.stringify(MAIN)})`;
  return new Promise((done) => {
    execFile(
      process.execPath,
      ["-r", REGISTER, "-e", script, "--", ...args],
      { env: { ...process.env, GROOVEBOX_CONFIG: configFile, GROOVEBOX_SERVER: server }, timeout: 20_000 },
      (err, stdout, stderr) => done({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
    );
  });
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
  afterAll(() => stack.stop());

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
      [await carol("seek", "soon"), EXIT.usage, /^groovebox: not a number of milliseconds: soon\n$/],
      [await carol("dance"), EXIT.usage, /unknown command 'dance'/],
      [await groovebox(join(dir, "carol.json"), `http://127.0.0.1:${await freePort()}`, "login", "Carol"), EXIT.unavailable, /^groovebox: cannot reach the server at /],
    ];
    for (const [run, code, stderr] of cases) expect([run.code, run.stderr]).toEqual([code, expect.stringMatching(stderr)]);
  }, 120_000);
});
