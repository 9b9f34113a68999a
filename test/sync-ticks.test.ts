import { Registry } from "prom-client";
import { ManualClock } from "../services/common/clock-source.js";
import { roomScriptKeys } from "../services/common/keys.js";
import { closeRedis, createQueueConnection } from "../services/common/redis.js";
import { createPlaybackStore } from "../services/playback/playback-store.js";
import { createSyncSchedule, type SyncSchedule } from "../services/playback/sync-schedule.js";
import { createSyncTicks } from "../services/playback/sync-ticks.js";
import { createSchedulerMetrics } from "../services/scheduler/metrics.js";
import { createTickHandler, type TickHandler } from "../services/scheduler/tick-handler.js";
import { eventually } from "./support/eventually.js";
import { guest, joinOnStream, type Guest } from "./support/rooms-client.js";
import { inspectRedis, startStack, testLogger, testRedis, testRedisTarget, type Stack } from "./support/stack.js";
import type { TestStream } from "./support/stream-client.js";

/**
 * The tick handler against a real Redis and real services, with the clock in the test's hand:
 * what a tick says, when it goes out, and that it goes out once.
 */
describe("sync ticks: content and once-only delivery", () => {
  const clock = new ManualClock(1_900_000_000_000);
  const maxLatenessMs = 1000;
  const redis = testRedis("ticks");
  const connection = createQueueConnection({ ...testRedisTarget(), name: "ticks-queue" });
  const look = inspectRedis();
  /** The instants the handler waited for. */
  const waited: number[] = [];
  let stack: Stack;
  let ada: Guest;
  let schedule: SyncSchedule;
  let tick: TickHandler;

  beforeAll(async () => {
    stack = await startStack({ clock });
    ada = await guest(stack.gatewayUrls[0]!, "Ada");
    const store = createPlaybackStore(redis);
    const logger = testLogger("ticks");
    schedule = createSyncSchedule({ redis, connection, store, clock, options: stack.sync, logger });
    tick = createTickHandler({
      ticks: createSyncTicks({ store, tickMarkTtlMs: 60_000 }),
      schedule,
      clock,
      metrics: createSchedulerMetrics(new Registry(), schedule.scheduledCount),
      logger,
      maxLatenessMs,
      until: async (ms) => {
        waited.push(ms);
        if (clock.now() < ms) clock.set(ms);
      },
    });
  });
  afterAll(async () => {
    await schedule.close();
    await stack.stop();
    await closeRedis(connection);
    await closeRedis(redis);
    look.disconnect();
  });

  /** A room with Ada (the DJ) on a stream, playing from 30 s; returns the start instant. */
  async function playingRoom(): Promise<{ roomId: string; stream: TestStream; startAt: number; seq: bigint }> {
    const state = (await ada.rooms.createRoom({}, ada.auth)).state!;
    const stream = await ada.connect();
    await joinOnStream(stream, state.roomCode);
    const started = await ada.playback.start({ roomId: state.roomId, trackId: "song", positionMs: 30_000 }, ada.auth);
    const event = await stream.next("playbackStarted");
    return { roomId: state.roomId, stream, startAt: started.startAtServerTime, seq: event.seq };
  }

  it("reports the position at the tick's instant, also when its job runs late", async () => {
    const { roomId, stream, startAt, seq } = await playingRoom();
    const tickMs = startAt + 10_000;
    clock.set(tickMs + 37);
    expect(await tick(roomId, tickMs)).toBe("sent");
    const event = await stream.nextEvent();
    expect(event.seq).toBe(seq + 1n);
    expect(event.message).toEqual({
      case: "playbackSync",
      value: expect.objectContaining({ roomId, trackId: "song", serverTimestamp: tickMs, theoreticalPosition: 40_000, version: 1n }),
    });
    stream.cancel();
  });

  it("waits for the tick's instant when its job comes early", async () => {
    const { roomId, stream, startAt } = await playingRoom();
    const tickMs = startAt + 20_000;
    clock.set(tickMs - 50);
    expect(await tick(roomId, tickMs)).toBe("sent");
    expect(waited.at(-1)).toBe(tickMs);
    expect((await stream.next("playbackSync")).message.value).toMatchObject({ serverTimestamp: tickMs, theoreticalPosition: 50_000 });
    stream.cancel();
  });

  it("sends each tick once, however often its job runs", async () => {
    const { roomId, stream, startAt } = await playingRoom();
    const tickMs = startAt + 10_000;
    clock.set(tickMs);
    const outcomes = await Promise.all([tick(roomId, tickMs), tick(roomId, tickMs), tick(roomId, tickMs)]);
    expect(outcomes.sort()).toEqual(["duplicate", "duplicate", "sent"]);
    // An earlier tick arriving after a later one is not sent either.
    expect(await tick(roomId, tickMs - 500)).toBe("duplicate");
    clock.set(tickMs + 10_000);
    expect(await tick(roomId, tickMs + 10_000)).toBe("sent");
    const first = await stream.nextEvent();
    const second = await stream.nextEvent();
    expect([first.message.value, second.message.value]).toEqual([
      expect.objectContaining({ serverTimestamp: tickMs, theoreticalPosition: 40_000 }),
      expect.objectContaining({ serverTimestamp: tickMs + 10_000, theoreticalPosition: 50_000 }),
    ]);
    expect(second.seq).toBe(first.seq + 1n);
    stream.cancel();
  });

  it("skips a tick picked up long after its instant", async () => {
    const { roomId, stream, startAt, seq } = await playingRoom();
    const stale = startAt + 10_000;
    clock.set(stale + maxLatenessMs + 1);
    expect(await tick(roomId, stale)).toBe("late");
    const next = stale + 10_000;
    clock.set(next);
    expect(await tick(roomId, next)).toBe("sent");
    const event = await stream.nextEvent();
    expect(event.seq).toBe(seq + 1n); // nothing went out between the start and this tick
    expect(event.message.value).toMatchObject({ serverTimestamp: next });
    stream.cancel();
  });

  it("sends nothing before the devices' start instant", async () => {
    const { roomId, stream, startAt, seq } = await playingRoom();
    clock.set(startAt - 1);
    expect(await tick(roomId, startAt - 1)).toBe("waiting");
    clock.set(startAt);
    expect(await tick(roomId, startAt)).toBe("sent");
    const event = await stream.nextEvent();
    expect(event.seq).toBe(seq + 1n);
    expect(event.message.value).toMatchObject({ serverTimestamp: startAt, theoreticalPosition: 30_000 });
    stream.cancel();
  });

  it("sends nothing for a paused room, and removes its schedule", async () => {
    const { roomId, stream, startAt } = await playingRoom();
    clock.set(startAt + 5000);
    await ada.playback.pause({ roomId }, ada.auth);
    const paused = await stream.next("playbackChanged");
    await eventually(async () => ((await schedule.queue.getJobScheduler(roomId)) === undefined ? true : undefined));
    // A schedule left behind (a hook that failed, a race): the next tick finds out.
    await schedule.queue.upsertJobScheduler(roomId, { every: 10_000, startDate: clock.now() + 10_000 }, { data: { roomId } });
    await look.sadd(schedule.keys.playingRooms, roomId);
    clock.advance(10_000);
    expect(await tick(roomId, clock.now())).toBe("not-playing");
    expect(await schedule.queue.getJobScheduler(roomId)).toBeUndefined();
    expect(await look.sismember(schedule.keys.playingRooms, roomId)).toBe(0);
    await ada.playback.resume({ roomId }, ada.auth);
    expect((await stream.nextEvent()).seq).toBe(paused.seq + 1n); // the resume, and no tick before it
    stream.cancel();
  });

  it("removes the schedule of a room that is gone", async () => {
    const { roomId, stream, startAt } = await playingRoom();
    stream.cancel();
    await look.del(...roomScriptKeys(roomId));
    await eventually(() => schedule.queue.getJobScheduler(roomId)); // the Start's hook made it
    clock.set(startAt + 10_000);
    expect(await tick(roomId, clock.now())).toBe("gone");
    expect(await schedule.queue.getJobScheduler(roomId)).toBeUndefined();
    expect(await look.sismember(schedule.keys.playingRooms, roomId)).toBe(0);
  });
});
