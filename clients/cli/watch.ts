import { toJson } from "@bufbuild/protobuf";
import { ServerMessageSchema, type ServerMessage } from "../../gen/groovebox/gateway/v1/gateway_pb.js";
import { LeaveReason, RoomStateSchema, type RoomState } from "../../gen/groovebox/room/v1/room_pb.js";
import { connectGroovebox, describeClock, describeEvent, position, timeOfDay, type GrooveboxClient } from "../sdk/node.js";
import { CliError, EXIT, explain } from "./cli-errors.js";
import { renderWatch, VIEW_WIDTH } from "./watch-view.js";

/** A terminal the live view is drawn on. */
export interface Terminal {
  write(text: string): void;
  columns(): number;
  rows(): number;
}

export interface WatchOptions {
  server: string;
  token: string;
  userId: string;
  deviceId: string;
  roomCode: string;
  /** "view": redraw the live view on `terminal`; "lines": one line per event; "json": JSON lines. */
  output: "view" | "lines" | "json";
  terminal?: Terminal;
  print(line: string): void;
  /** Ends the watch (Ctrl-C). */
  stop: AbortSignal;
  /** How often the view redraws, or a JSON status line is written (ms). */
  refreshMs: number;
}

const members = (state: RoomState) => `${state.members.length} member${state.members.length === 1 ? "" : "s"}`;

/** Event lines the view keeps. */
const KEPT_EVENTS = 200;

// Alternate screen and hidden cursor while watching; cursor home, clear to end of line/screen.
const ENTER = "\x1b[?1049h\x1b[?25l";
const LEAVE = "\x1b[?25h\x1b[?1049l";
const HOME = "\x1b[H";
const CLEAR_LINE = "\x1b[K";
const CLEAR_BELOW = "\x1b[J";

/**
 * `groovebox watch`: joins the room as a device on the Connect stream (through the SDK, so the
 * clock syncs and sync reports go out like any app's) and shows the room as it changes, until
 * `stop` aborts. Resolves with the exit code.
 */
export async function watchRoom(o: WatchOptions): Promise<number> {
  const gb = await connectOrStop(o);
  if (gb === undefined) return EXIT.ok;
  const events: string[] = [];
  let before: RoomState | undefined;
  const now = () => (gb.clock.synced ? gb.clock.serverNow() : Date.now());
  const json = (value: object) => o.print(JSON.stringify(value));
  const jsonTimeline = () => {
    const t = gb.playback.timeline;
    if (t === undefined || !gb.clock.synced) return null;
    return { trackId: t.trackId, playing: t.playing, positionMs: position(t, gb.clock.serverNow()), version: t.version };
  };
  const status = () =>
    json({ type: "status", connection: gb.status, serverTimeMs: gb.clock.synced ? gb.clock.serverNow() : null, clock: gb.clock.estimate() ?? null, playback: jsonTimeline() });
  const logLine = (text: string) => {
    const line = `${timeOfDay(now())}  ${text}`;
    events.push(line);
    if (events.length > KEPT_EVENTS) events.shift();
    if (o.output === "lines") o.print(line);
  };

  // The watch ends with undefined (Ctrl-C: exit 0), or with why it cannot go on. It never
  // stays on a session that has ended: a watcher either watches or says why it stopped.
  let finish!: (failure: CliError | undefined) => void;
  const done = new Promise<CliError | undefined>((r) => (finish = r));
  let closing = false;
  o.stop.addEventListener("abort", () => finish(undefined), { once: true });
  if (o.stop.aborted) finish(undefined);
  gb.on("event", (msg: ServerMessage) => {
    if (o.output === "json") json({ type: "event", serverTimeMs: now(), ...(toJson(ServerMessageSchema, msg) as object) });
    else logLine(describeEvent(msg, before));
    before = gb.room;
    draw();
  });
  let joined = false;
  gb.on("room", (state) => {
    before = state;
    if (o.output === "json") json({ type: "room", serverTimeMs: now(), room: toJson(RoomStateSchema, state) });
    else if (joined) logLine(`room state again (after a gap or a reconnect): ${members(state)}`);
    else logLine(`watching room ${state.roomCode}: ${members(state)} (Ctrl-C to stop)`);
    joined = true;
    draw();
  });
  gb.on("status", (st, detail) => {
    if (o.output === "json") json({ type: "connection", status: st, ...detail, error: detail.error?.message });
    else if (st === "reconnecting") logLine(`connection lost (${detail.error?.message ?? "closed"}): reconnecting in ${Math.round(detail.delayMs ?? 0)} ms`);
    else if (st === "connected") logLine("connected again");
    draw();
    // The SDK ended the session by itself (an error retrying cannot help, such as a login the
    // server no longer accepts): nothing more will come.
    if (st === "closed" && !closing) finish(explain(detail.error ?? new Error("the connection to the server ended"), o.server));
  });
  gb.on("roomLeft", ({ reason }) => {
    const why = reason === LeaveReason.TIMED_OUT ? "timed out" : "left";
    if (o.output === "json") json({ type: "left", reason: why });
    finish(new CliError(`no longer a member of room ${o.roomCode} (${why})`, EXIT.failed));
  });

  const draw = () => {
    if (o.output !== "view" || o.terminal === undefined) return;
    const lines = renderWatch(
      {
        room: gb.room,
        userId: o.userId,
        connection: gb.status,
        clock: gb.clock.estimate(),
        serverNowMs: gb.clock.synced ? gb.clock.serverNow() : undefined,
        timeline: gb.playback.timeline,
        events,
      },
      Math.min(o.terminal.columns(), VIEW_WIDTH * 2),
      o.terminal.rows(),
    );
    o.terminal.write(`${HOME}${lines.join(`${CLEAR_LINE}\n`)}${CLEAR_LINE}${CLEAR_BELOW}`);
  };

  try {
    await gb.joinRoom(o.roomCode);
  } catch (err) {
    closing = true;
    gb.close();
    throw err;
  }
  // The SDK waits (a few seconds at most) for the clock's first estimate before it connects.
  const synced = () => {
    if (o.output === "json") status();
    else logLine(describeClock(gb.clock.estimate()).replace(/^clock +/, "clock synchronised: "));
  };
  if (gb.clock.synced) synced();
  else gb.clock.once("synced", synced);
  if (o.output === "view") o.terminal?.write(ENTER);
  const timer = o.output === "lines" ? undefined : setInterval(() => (o.output === "json" ? status() : draw()), o.refreshMs);
  draw();
  const failure = await done;
  clearInterval(timer);
  closing = true;
  gb.close();
  if (o.output === "view") o.terminal?.write(LEAVE);
  if (failure !== undefined) throw failure;
  return EXIT.ok;
}

/** Connects the device; undefined when stopped first (the SDK retries while the gateway is down). */
async function connectOrStop(o: WatchOptions): Promise<GrooveboxClient | undefined> {
  if (o.stop.aborted) return undefined;
  const connecting = connectGroovebox({ baseUrl: o.server, token: o.token, deviceId: o.deviceId, outputLatencyMs: 0 });
  const stopped = new Promise<undefined>((r) => o.stop.addEventListener("abort", () => r(undefined), { once: true }));
  const gb = await Promise.race([connecting, stopped]);
  if (gb === undefined) void connecting.then((late) => late.close(), () => undefined);
  return gb;
}
