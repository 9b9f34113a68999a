import { Queue } from "bullmq";
import { PlaybackChange } from "../gen/groovebox/playback/v1/playback_pb.js";
import type { ServerMessage } from "../gen/groovebox/gateway/v1/gateway_pb.js";
import { roomScriptKeys, syncQueueKeys } from "../services/common/keys.js";
import { closeRedis, createQueueConnection } from "../services/common/redis.js";
import { SYNC_QUEUE } from "../services/playback/sync-schedule.js";
import { eventually, WAIT_MS } from "./support/eventually.js";
import { guest, joinOnStream, type Guest } from "./support/rooms-client.js";
import { inspectRedis, startStack, testRedisTarget, type Stack } from "./support/stack.js";
import { TestStream } from "./support/stream-client.js";
import { expectOnGrid, nextTicks, type Sync } from "./support/sync-ticks.js";

const INTERVAL = 200;

/** A service's /metrics page. */
const metricsPage = async (url: string) => (await fetch(`${url}/metrics`)).text();

/** A counter or gauge on a /metrics page, summed over the series whose labels include `labels`. */
function metric(page: string, name: string, labels = ""): number {
  return page
    .split("\n")
    .filter((line) => line.startsWith(name) && line.includes(labels) && !line.startsWith(`${name}_`))
    .reduce((sum, line) => sum + Number(line.split(" ").pop()), 0);
}

/**
 * The periodic playback_sync end to end: real BullMQ job schedulers (a 200 ms interval), two
 * scheduler processes' workers, the playback service's hooks, and the gateways' streams.
 */
describe("scheduler: the periodic playback_sync", () => {
  let stack: Stack;
  let ada: Guest; // the DJ, gateway 0
  let bob: Guest; // gateway 1
  const look = inspectRedis();
  const connection = createQueueConnection({ ...testRedisTarget(), name: "scheduler-test" });
  let queue: Queue;
  let keys: ReturnType<typeof syncQueueKeys>;

  beforeAll(async () => {
    stack = await startStack({
      gateways: 2,
      schedulers: 2,
      sync: { syncIntervalMs: INTERVAL, syncLeadMs: 50 },
      // A room's ticks keep the start's phase when its schedule is made before the first tick's
      // job is due: within start buffer + interval - lead of the command. With this test's short
      // interval and the usual 100 ms buffer that is 250 ms, which a loaded machine can miss
      // (BullMQ then starts the grid at its "now"); a 1 s buffer gives it 1.15 s.
      buffer: { minBufferMs: 1000, maxBufferMs: 1000 },
    });
    keys = syncQueueKeys(stack.sync.syncQueueTag);
    queue = new Queue(SYNC_QUEUE, { connection, prefix: keys.prefix });
    [ada, bob] = await Promise.all([guest(stack.gatewayUrls[0]!, "Ada"), guest(stack.gatewayUrls[1]!, "Bob")]);
  });
  afterAll(async () => {
    await stack.stop();
    await queue.close();
    await closeRedis(connection);
    look.disconnect();
  });

  async function room() {
    const state = (await ada.rooms.createRoom({}, ada.auth)).state!;
    const stream = await ada.connect();
    await joinOnStream(stream, state.roomCode);
    return { roomId: state.roomId, roomCode: state.roomCode, stream };
  }

  const hasScheduler = async (roomId: string) => (await queue.getJobScheduler(roomId)) !== undefined;
  const isIndexed = async (roomId: string) => (await look.sismember(keys.playingRooms, roomId)) === 1;
  /** Resolves once the room's scheduler and index entry are gone. */
  const unscheduled = (roomId: string) =>
    eventually(async () => ((await hasScheduler(roomId)) || (await isIndexed(roomId)) ? undefined : true), WAIT_MS, "schedule removed");

  it("sends every member the position at each tick, on Connect streams and on Subscribe", async () => {
    const { roomId, roomCode, stream } = await room();
    const bobStream = await bob.connect("connect"); // through connect-es
    await joinOnStream(bobStream, roomCode);
    const subscribeGrpc = TestStream.subscribe(stack.gatewayUrls[1]!, bob.token, roomId);
    const subscribeConnect = TestStream.subscribe(stack.gatewayUrls[0]!, bob.token, roomId, "connect");
    const streams = [stream, bobStream, subscribeGrpc, subscribeConnect];
    await subscribeGrpc.next("roomState");
    await subscribeConnect.next("roomState");

    const started = await ada.playback.start({ roomId, trackId: "song", positionMs: 30_000 }, ada.auth);
    const received = await Promise.all(streams.map((s) => nextTicks(s, 4)));
    for (const syncs of received) expect(syncs).toEqual(received[0]);
    const first = received[0]![0]!;
    // The first tick is one interval after the devices start (to the millisecond BullMQ keeps).
    expect(first.serverTimestamp).toBeGreaterThan(started.startAtServerTime + INTERVAL - 1);
    expect(first.serverTimestamp).toBeLessThanOrEqual(started.startAtServerTime + INTERVAL);
    expectOnGrid(received[0]!, INTERVAL);
    for (const sync of received[0]!) {
      expect(sync).toMatchObject({ roomId, trackId: "song", version: 1n });
      expect(sync.theoreticalPosition).toBe(30_000 + (sync.serverTimestamp - started.startAtServerTime));
    }
    for (const s of streams) s.cancel();
  });

  it("stops the ticks on pause and starts them again on resume", async () => {
    const paused = await room();
    const metronome = await room();
    await ada.playback.start({ roomId: paused.roomId, trackId: "a" }, ada.auth);
    await ada.playback.start({ roomId: metronome.roomId, trackId: "b" }, ada.auth);
    await nextTicks(paused.stream, 1);
    await ada.playback.pause({ roomId: paused.roomId }, ada.auth);
    const pauseEvent = await paused.stream.next("playbackChanged");
    await unscheduled(paused.roomId);
    await nextTicks(metronome.stream, 3); // time passes: the other room ticks on

    const resumed = (await ada.playback.resume({ roomId: paused.roomId }, ada.auth)).state!;
    const resumeEvent = await paused.stream.nextEvent();
    expect(resumeEvent.seq).toBe(pauseEvent.seq + 1n); // no tick while paused
    expect(resumeEvent.message).toMatchObject({ case: "playbackChanged", value: { change: PlaybackChange.RESUMED } });
    const [tick] = await nextTicks(paused.stream, 1);
    expect(tick!.version).toBe(resumed.version);
    expect(tick!.serverTimestamp).toBeGreaterThan(resumed.startAtServerTime + INTERVAL - 1);
    expect(tick!.theoreticalPosition).toBe(resumed.anchorPositionMs + (tick!.serverTimestamp - resumed.startAtServerTime));
    paused.stream.cancel();
    metronome.stream.cancel();
  });

  it("moves the reported position with a seek", async () => {
    const { roomId, stream } = await room();
    await ada.playback.start({ roomId, trackId: "song" }, ada.auth);
    await nextTicks(stream, 1);
    const sought = (await ada.playback.seek({ roomId, positionMs: 90_000 }, ada.auth)).state!;
    await stream.next("playbackChanged");
    const [tick] = await nextTicks(stream, 1);
    expect(tick!.version).toBe(sought.version);
    expect(tick!.serverTimestamp).toBeGreaterThanOrEqual(sought.startAtServerTime);
    expect(tick!.theoreticalPosition).toBe(90_000 + (tick!.serverTimestamp - sought.startAtServerTime));
    stream.cancel();
  });

  it("removes the schedule when the track ends or the room stops", async () => {
    const ends = await room();
    const started = await ada.playback.start({ roomId: ends.roomId, trackId: "short", positionMs: 1000, trackDurationMs: 1700 }, ada.auth);
    const events: ServerMessage[] = [];
    for (let event = await ends.stream.nextEvent(); ; event = await ends.stream.nextEvent()) {
      events.push(event);
      if (event.message.case === "playbackChanged") break;
    }
    expect(events.at(-1)!.message.value).toMatchObject({ change: PlaybackChange.ENDED });
    const syncs = events.filter((e) => e.message.case === "playbackSync").map((e) => e.message.value as Sync);
    for (const sync of syncs) expect(sync.theoreticalPosition).toBeLessThan(1700);
    expect(syncs.length).toBeGreaterThan(0);
    expect(syncs[0]!.serverTimestamp).toBeGreaterThan(started.startAtServerTime);
    await unscheduled(ends.roomId);

    const stops = await room();
    await ada.playback.start({ roomId: stops.roomId, trackId: "song" }, ada.auth);
    await nextTicks(stops.stream, 1);
    await ada.playback.stop({ roomId: stops.roomId }, ada.auth);
    await unscheduled(stops.roomId);
    ends.stream.cancel();
    stops.stream.cancel();
  });

  it("removes the schedule of a room that was deleted or expired", async () => {
    const { roomId, stream } = await room();
    await ada.playback.start({ roomId, trackId: "song" }, ada.auth);
    await nextTicks(stream, 1);
    stream.cancel();
    await look.del(...roomScriptKeys(roomId));
    await unscheduled(roomId);
  });

  it("sends each tick once with two scheduler processes, and counts what it does", async () => {
    const rooms = await Promise.all(Array.from({ length: 8 }, () => room()));
    await Promise.all(rooms.map((r) => ada.playback.start({ roomId: r.roomId, trackId: "song" }, ada.auth)));
    const received = await Promise.all(rooms.map((r) => nextTicks(r.stream, 6)));
    for (const syncs of received) expectOnGrid(syncs, INTERVAL);
    for (const r of rooms) r.stream.cancel();

    const pages = await Promise.all(stack.schedulers.map((s) => metricsPage(s.operatorUrl)));
    const sum = (name: string, labels = "") => pages.reduce((total, page) => total + metric(page, name, labels), 0);
    expect(sum("scheduler_ticks_total", 'outcome="sent"')).toBeGreaterThanOrEqual(8 * 6);
    expect(sum("scheduler_tick_lateness_seconds_count")).toBe(sum("scheduler_ticks_total", 'outcome="sent"'));
    expect(metric(pages[0]!, "scheduler_job_schedulers")).toBeGreaterThanOrEqual(8);
    // Done jobs are removed at once and none failed: nothing piles up in Redis.
    expect(await queue.getJobCounts("completed", "failed")).toEqual({ completed: 0, failed: 0 });
  });
});
