/**
 * The groovebox page (served by the gateway at /): join a room by code or create one, see the
 * members and how well each device is in sync, and, as the DJ, start a track. Every page plays
 * a short tone at the start instant. Built on the SDK's browser entry (unary calls, Ping and
 * Subscribe over fetch).
 */
import {
  connectGroovebox,
  describeClock,
  describeEvent,
  describeTier,
  describeTimeline,
  signed,
  timeOfDay,
  type GrooveboxClient,
  type PlaybackUpdate,
} from "groovebox-sync/sdk";
import type { Member, RoomState } from "../../gen/groovebox/room/v1/room_pb.js";
import { deviceNow, outputLatencyMs, scheduleTone } from "./tone.js";

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const input = (id: string) => $<HTMLInputElement>(id);

/** The login and room of this tab, so a reload rejoins (each tab is its own listener). */
const SAVED = "groovebox.session";
/** This browser's device id: the server remembers its output latency under it. */
const DEVICE = "groovebox.deviceId";
const EVENTS_SHOWN = 50;

let gb: GrooveboxClient | undefined;
let audio: AudioContext | undefined;
/** The room as it was before the latest event (names of members who just left). */
let before: RoomState | undefined;
/** The timeline version whose start instant has a tone. */
let toneVersion = -1;
const timers: Array<ReturnType<typeof setInterval>> = [];

function deviceId(): string {
  let id = localStorage.getItem(DEVICE);
  if (id === null) {
    id = `web-${crypto.randomUUID().slice(0, 12)}`;
    localStorage.setItem(DEVICE, id);
  }
  return id;
}

function showError(err: unknown): void {
  const e = err as { rawMessage?: string; message?: string };
  $("error").textContent = e.rawMessage ?? e.message ?? String(err);
}

/** Logs in (or reuses the tab's login), connects, and joins or creates the room. */
async function enter(how: { code: string } | { create: true }, saved?: { token: string }): Promise<void> {
  $("error").textContent = "";
  // Made (or resumed) in the click that asked for it: browsers start audio only from a gesture.
  audio ??= new AudioContext();
  void audio.resume();
  const name = input("name").value.trim();
  const client = await connectGroovebox({
    baseUrl: location.origin,
    ...(saved ? { token: saved.token } : { displayName: name }),
    deviceId: deviceId(),
    outputLatencyMs: outputLatencyMs(audio),
  });
  try {
    const state = "code" in how ? await client.joinRoom(how.code) : await client.createRoom();
    sessionStorage.setItem(SAVED, JSON.stringify({ token: client.token, code: state.roomCode }));
    localStorage.setItem("groovebox.name", name);
  } catch (err) {
    client.close();
    throw err;
  }
  gb = client;
  follow(client, audio);
}

function follow(client: GrooveboxClient, ctx: AudioContext): void {
  before = client.room;
  $("join").hidden = true;
  $("room").hidden = false;
  client.on("room", (state) => {
    before = state;
    render();
  });
  client.on("event", (msg) => {
    addEvent(describeEvent(msg, before));
    before = client.room;
    render();
  });
  client.on("status", (status, detail) => {
    $("connection").textContent = status === "reconnecting" ? `reconnecting (${detail.error?.message ?? "connection lost"})` : status;
  });
  client.on("roomLeft", () => leave());
  client.playback.on("update", (update) => onTimeline(client, ctx, update));
  $("connection").textContent = client.status;
  // The position ticks; the output latency can change (another output device, Bluetooth).
  timers.push(setInterval(renderNow, 100));
  timers.push(setInterval(() => client.setOutputLatency(outputLatencyMs(ctx)), 2000));
  render();
}

/** A start (or resume, or seek while playing): a tone at the instant the room starts. */
function onTimeline(client: GrooveboxClient, ctx: AudioContext, u: PlaybackUpdate): void {
  const t = u.timeline;
  if (!t.playing || u.start === undefined || t.version === toneVersion) return;
  // A state that started before this page knew of it (a late join) has no tone.
  if (u.cause !== "started" && u.cause !== "resumed" && u.cause !== "seeked" && u.start.localTimeMs < deviceNow()) return;
  toneVersion = t.version;
  const leadMs = scheduleTone(ctx, u.start.localTimeMs);
  const latency = client.playback.outputLatencyMs;
  const heardLocalMs = u.start.localTimeMs + latency;
  const estimate = client.clock.estimate();
  const tone = $("tone");
  const when = leadMs >= 0 ? `scheduled ${Math.round(leadMs)} ms ahead` : `${Math.round(-leadMs)} ms late: the start came after its instant`;
  tone.textContent = `tone at ${timeOfDay(t.anchorTimeMs)} (${when}; output latency ${latency.toFixed(1)} ms)`;
  Object.assign(tone.dataset, {
    version: String(t.version),
    startAtServerMs: String(t.anchorTimeMs),
    heardLocalMs: String(heardLocalMs),
    heardServerMs: String(client.clock.toServer(heardLocalMs)),
    // How far this page's clock may be from the server's when it scheduled the tone: the
    // estimate's error bound, and up to half its round trip for an asymmetric path.
    errorBoundMs: String(estimate?.errorBoundMs ?? Number.NaN),
    rttMs: String(estimate?.rttMs ?? Number.NaN),
    leadMs: String(leadMs),
  });
}

function addEvent(text: string): void {
  const li = document.createElement("li");
  li.textContent = `${timeOfDay(gb?.clock.synced ? gb.clock.serverNow() : Date.now())}  ${text}`;
  const list = $("events");
  list.prepend(li);
  while (list.children.length > EVENTS_SHOWN) list.lastElementChild!.remove();
}

function memberRow(m: Member, you: boolean): HTMLTableRowElement {
  const tr = document.createElement("tr");
  if (you) tr.className = "you";
  const r = m.sync?.report;
  const cells = [
    m.displayName,
    [m.isDj ? "DJ" : "", m.connected ? "" : "(calls)"].join(" ").trim(),
    r ? describeTier(r.correctionTier) : "no report yet",
    r ? signed(r.offsetMs, 2) : "",
    r ? r.rttMs.toFixed(1) : "",
    r ? r.errorBoundMs.toFixed(2) : "",
    r ? r.outputLatencyMs.toFixed(0) : "",
    r ? signed(r.playbackErrorMs, 1) : "",
  ];
  for (const text of cells) tr.insertCell().textContent = text;
  return tr;
}

/** Redraws the room: members, DJ controls, and what changes every tick. */
function render(): void {
  const room = gb?.room;
  if (gb === undefined || room === undefined) return;
  $("room-code").textContent = room.roomCode;
  $("room-name").textContent = room.name;
  $("dj").hidden = room.currentDjId !== gb.userId;
  $("members").replaceChildren(...room.members.map((m) => memberRow(m, m.userId === gb!.userId)));
  renderNow();
}

/** The clock estimate and the position now. */
function renderNow(): void {
  if (gb === undefined) return;
  const estimate = gb.clock.estimate();
  const clock = $("clock");
  clock.textContent = `${describeClock(estimate)}  output latency ${gb.playback.outputLatencyMs.toFixed(1)} ms`;
  clock.dataset.synced = String(estimate !== undefined);
  $("playback").textContent = describeTimeline(gb.playback.timeline, estimate ? gb.clock.serverNow() : undefined);
}

function leave(): void {
  for (const t of timers.splice(0)) clearInterval(t);
  sessionStorage.removeItem(SAVED);
  gb?.close();
  gb = undefined;
  toneVersion = -1;
  $("events").replaceChildren();
  $("tone").textContent = "";
  $("room").hidden = true;
  $("join").hidden = false;
}

/** Runs a button's action; its failure is shown on the page. */
const guard = (run: () => Promise<unknown>) => () => void run().catch(showError);

$("join").addEventListener("submit", (e) => {
  e.preventDefault();
  guard(() => enter({ code: input("code").value }))();
});
$("create-room").addEventListener(
  "click",
  guard(async () => {
    if (!input("name").reportValidity()) return;
    await enter({ create: true });
  }),
);
$("dj").addEventListener("submit", (e) => {
  e.preventDefault();
  guard(() => gb!.start(input("track").value))();
});
$("stop").addEventListener(
  "click",
  guard(() => gb!.stop()),
);
$("leave").addEventListener(
  "click",
  guard(async () => {
    await gb?.leaveRoom();
    leave();
  }),
);

// A context made without a click (after a reload) stays silent until the page is clicked.
document.addEventListener("click", () => void audio?.resume());
input("name").value = localStorage.getItem("groovebox.name") ?? "";
const saved = sessionStorage.getItem(SAVED);
if (saved !== null) {
  const { token, code } = JSON.parse(saved) as { token: string; code: string };
  input("code").value = code;
  // A reload: the tab's login and room again.
  enter({ code }, { token }).catch((err) => {
    sessionStorage.removeItem(SAVED);
    showError(err);
  });
}
