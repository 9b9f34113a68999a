import { Command, CommanderError, Option } from "commander";
import { toJson } from "@bufbuild/protobuf";
import { PlaybackStateSchema } from "../../gen/groovebox/playback/v1/playback_pb.js";
import { RoomStateSchema, type RoomState } from "../../gen/groovebox/room/v1/room_pb.js";
import { createApi, type Api } from "./api.js";
import { CliError, EXIT, explain } from "./cli-errors.js";
import { createConfigStore, configPath, type CliConfig } from "./config-store.js";
import { formatPosition } from "../sdk/node.js";
import { describeMembers, describePlayback } from "./format.js";
import { watchRoom, type Terminal } from "./watch.js";

const DEFAULT_SERVER = "http://127.0.0.1:8080";

/** Where the CLI writes, and its environment: the real process, or a test's. */
export interface CliIo {
  stdout(line: string): void;
  stderr(line: string): void;
  env: NodeJS.ProcessEnv;
  /** The terminal, when stdout is one: `watch` draws its live view there. */
  terminal?: Terminal;
  /** From this call on, Ctrl-C aborts the signal instead of ending the process: `watch` runs until then. */
  interrupts(): AbortSignal;
}

interface GlobalOptions {
  server?: string;
  json?: boolean;
  room?: string;
}

/** A number of milliseconds from the command line. */
function milliseconds(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0) throw new CliError(`not a number of milliseconds: ${value}`, EXIT.usage);
  return n;
}

/**
 * The groovebox CLI. Commands that need no clock (login, create, join, members, play, pause,
 * resume, seek, stop) are single unary calls: they keep you in the room between commands (a
 * member who calls stays, see the README on presence), and exit. Returns the exit code.
 */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const store = createConfigStore(configPath(io.env));
  let config: CliConfig = {};
  let exitCode: number = EXIT.ok;

  const program = new Command("groovebox")
    .description("Listen together: rooms, a DJ, and playback in sync (talks to a groovebox gateway)")
    .addOption(new Option("-s, --server <url>", `the gateway (default: the last one used, else ${DEFAULT_SERVER})`).env("GROOVEBOX_SERVER"))
    .option("--json", "print JSON instead of text (for scripts)")
    .option("-r, --room <id>", "the room (default: the one you last created or joined)")
    .addHelpText(
      "after",
      `\nExit codes: 0 ok, 1 failed, 2 bad usage or input, 3 not logged in, 4 no such room,\n5 refused (not the DJ, not a member), 6 server unreachable.\nThe login and the current room are kept in ${store.path} (GROOVEBOX_CONFIG).`,
    )
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout(s.trimEnd()), writeErr: (s) => io.stderr(s.trimEnd()) });

  const globals = () => program.opts<GlobalOptions>();
  const server = () => (globals().server ?? config.server ?? DEFAULT_SERVER).replace(/\/+$/, "");
  const print = (text: string | string[], json: unknown) => {
    if (globals().json) io.stdout(JSON.stringify(json));
    else for (const line of [text].flat()) io.stdout(line);
  };
  const auth = () => {
    if (!config.token) throw new CliError("not logged in: groovebox login <name>", EXIT.notLoggedIn);
    return { headers: { authorization: `Bearer ${config.token}` } };
  };
  const roomId = () => {
    const id = globals().room ?? config.room?.id;
    if (!id) throw new CliError("not in a room: groovebox create [name], or groovebox join <code>", EXIT.usage);
    return id;
  };
  /** Runs a command's calls with a connection to the server, closed afterwards. */
  const withApi =
    <A extends unknown[]>(run: (api: Api, ...args: A) => Promise<void>) =>
    async (...args: A) => {
      const api = createApi(server());
      try {
        await run(api, ...args);
      } finally {
        api.close();
      }
    };
  const rememberRoom = (state: RoomState) => {
    config.room = { id: state.roomId, code: state.roomCode, name: state.name };
    store.write(config);
  };
  const roomJson = (state: RoomState) => toJson(RoomStateSchema, state);

  program
    .command("login")
    .description("log in as a guest with a display name (kept for the next commands)")
    .argument("<name>", "the name others see")
    .action(
      withApi(async (api, name: string) => {
        const res = await api.auth.login({ displayName: name });
        config = { server: server(), token: res.token, userId: res.userId, displayName: name };
        store.write(config);
        print(`logged in to ${server()} as ${name} (${res.userId})`, { userId: res.userId, displayName: name, server: server() });
      }),
    );

  program
    .command("create")
    .description("create a room; you are its DJ")
    .argument("[name]", "the room's name", "")
    .action(
      withApi(async (api, name: string) => {
        const { state } = await api.rooms.createRoom({ name }, auth());
        rememberRoom(state!);
        print(`created room ${state!.roomCode}${state!.name ? ` (${state!.name})` : ""}: you are its DJ; others join with: groovebox join ${state!.roomCode}`, roomJson(state!));
      }),
    );

  program
    .command("join")
    .description("join a room with its code")
    .argument("<code>", "the room's 6-character code (any case; spaces and dashes are ignored)")
    .action(
      withApi(async (api, code: string) => {
        const { state } = await api.rooms.joinRoom({ roomCode: code }, auth());
        rememberRoom(state!);
        const dj = state!.members.find((m) => m.isDj)?.displayName ?? "nobody";
        print(`joined ${state!.roomCode}${state!.name ? ` (${state!.name})` : ""}: ${state!.members.length} members, DJ ${dj}; ${describePlayback(state!.playback)}`, roomJson(state!));
      }),
    );

  program
    .command("members")
    .description("the room's members, its DJ and what is playing")
    .action(
      withApi(async (api) => {
        const { state } = await api.rooms.getRoomState({ roomId: roomId() }, auth());
        print([`room ${state!.roomCode}${state!.name ? ` (${state!.name})` : ""}: ${describePlayback(state!.playback)}`, ...describeMembers(state!)], roomJson(state!));
      }),
    );

  /** A DJ's command: the call, then the room's new timeline. */
  const playbackCommand = <A extends unknown[]>(
    name: string,
    call: (api: Api, roomId: string, ...args: A) => Promise<{ state?: Parameters<typeof describePlayback>[0] }>,
  ) =>
    withApi(async (api, ...args: A) => {
      const { state } = await call(api, roomId(), ...args);
      print(`${name}: ${describePlayback(state)}`.replace(/^paused: paused:/, "paused:"), toJson(PlaybackStateSchema, state!));
    });

  program
    .command("play")
    .description("DJ: start a track for everyone in the room")
    .argument("<track>", "the track's id")
    .option("--at <ms>", "start this far into the track (ms)", milliseconds)
    .option("--duration <ms>", "the track's length (ms): the room stops at its end", milliseconds)
    .action(
      withApi(async (api, track: string, opts: { at?: number; duration?: number }) => {
        const res = await api.playback.start({ roomId: roomId(), trackId: track, positionMs: opts.at, trackDurationMs: opts.duration }, auth());
        print(
          `playing ${track} from ${formatPosition(res.positionMs)}: everyone starts in ${Math.round(res.startAtServerTime - res.serverTimestamp)} ms`,
          toJson(PlaybackStateSchema, res.state!),
        );
      }),
    );
  program.command("pause").description("DJ: pause").action(playbackCommand("paused", (api, room) => api.playback.pause({ roomId: room }, auth())));
  program.command("resume").description("DJ: resume").action(playbackCommand("resumed", (api, room) => api.playback.resume({ roomId: room }, auth())));
  program.command("stop").description("DJ: stop").action(playbackCommand("stopped", (api, room) => api.playback.stop({ roomId: room }, auth())));
  program
    .command("seek")
    .description("DJ: move the room to a position")
    .argument("<ms>", "the position (ms)", milliseconds)
    .action(playbackCommand("moved", (api, room, positionMs: number) => api.playback.seek({ roomId: room, positionMs }, auth())));

  program
    .command("watch")
    .description("a live view of the room: members and their sync, this device's clock, the position, events")
    .argument("[code]", "the room's code (default: the room you last created or joined)")
    .addHelpText(
      "after",
      "\nIn a terminal it redraws a live view; piped, it prints a line per event; with --json, a JSON\nline per event and a status line (clock, position) every second. Ctrl-C stops it.",
    )
    .action(
      withApi(async (api, code: string | undefined) => {
        auth();
        const roomCode = code ?? (globals().room ? (await api.rooms.getRoomState({ roomId: roomId() }, auth())).state!.roomCode : config.room?.code);
        if (!roomCode) throw new CliError("not in a room: groovebox watch <code>, or groovebox join <code> first", EXIT.usage);
        // A unary join first: a bad code, an expired login or a server that is down is told at once
        // (the SDK would keep retrying), and the watch is a member like any other.
        rememberRoom((await api.rooms.joinRoom({ roomCode }, auth())).state!);
        config.deviceId ??= `cli-${Math.random().toString(36).slice(2, 12)}`;
        store.write(config);
        const json = globals().json === true;
        exitCode = await watchRoom({
          server: server(),
          token: config.token!,
          userId: config.userId ?? "",
          deviceId: config.deviceId,
          roomCode,
          output: json ? "json" : io.terminal ? "view" : "lines",
          terminal: io.terminal,
          print: io.stdout,
          stop: io.interrupts(),
          refreshMs: json ? 1000 : 100,
        });
      }),
    );

  try {
    config = store.read();
    await program.parseAsync(argv, { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are not failures; everything else commander rejects is bad usage.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const e = explain(err, server());
    io.stderr(`groovebox: ${e.message}`);
    exitCode = e.exitCode;
  }
  return exitCode;
}
