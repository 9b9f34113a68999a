import { Queue, Worker } from "bullmq";
import { syncQueueKeys } from "../services/common/keys.js";
import { closeRedis, createQueueConnection } from "../services/common/redis.js";
import { SYNC_QUEUE } from "../services/playback/sync-schedule.js";
import { eventually, WAIT_MS } from "./support/eventually.js";
import { guest, joinOnStream, type Guest } from "./support/rooms-client.js";
import { startServiceProcess, type ServiceProcess } from "./support/service-process.js";
import { inspectRedis, startStack, startTestScheduler, testRedisTarget, type Stack } from "./support/stack.js";
import type { TestStream } from "./support/stream-client.js";
import { expectOnGrid, type Sync } from "./support/sync-ticks.js";

const INTERVAL = 200;
const LEAD = 50;

/** Everything a stream received so far and from now on, as it arrives. */
function recorder(stream: TestStream) {
  const syncs: Sync[] = [];
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      const message = await stream.next("playbackSync", 60_000).catch(() => undefined);
      if (message === undefined) return;
      syncs.push(message.message.value);
    }
  })();
  return {
    syncs,
    /** Resolves once `n` ticks have arrived in all. */
    count: (n: number) => eventually(async () => (syncs.length >= n ? true : undefined), WAIT_MS, `${n} ticks`),
    stop() {
      stopped = true;
      stream.cancel();
      return done;
    },
  };
}

/**
 * Scheduler processes coming and going: reconcile on start, real child processes killed with
 * SIGKILL (their stalled jobs go to the others), graceful SIGTERM.
 */
describe("scheduler processes", () => {
  let stack: Stack;
  let ada: Guest;
  const look = inspectRedis();
  const connection = createQueueConnection({ ...testRedisTarget(), name: "scheduler-processes-test" });
  let queue: Queue;
  let keys: ReturnType<typeof syncQueueKeys>;
  const running: ServiceProcess[] = [];

  /** A scheduler child process on the stack's queue. */
  const schedulerProcess = async () => {
    const redis = testRedisTarget();
    const proc = await startServiceProcess("scheduler", { portVar: "SCHEDULER_PORT", operatorPortVar: "SCHEDULER_OPERATOR_PORT" }, {
      REDIS_URL: redis.url,
      REDIS_CLUSTER_NODES: redis.clusterNodes.map(({ host, port }) => `${host}:${port}`).join(","),
      SYNC_INTERVAL_MS: String(INTERVAL),
      SYNC_LEAD_MS: String(LEAD),
      SYNC_MAX_LATENESS_MS: "60000",
      SYNC_QUEUE_TAG: stack.sync.syncQueueTag,
      // As the in-process services of the tests: a loaded machine can stall a command past 1.5 s,
      // and a tick that fails that way would count as an error.
      REDIS_COMMAND_TIMEOUT_MS: "10000",
    });
    running.push(proc);
    return proc;
  };

  beforeAll(async () => {
    stack = await startStack({ sync: { syncIntervalMs: INTERVAL, syncLeadMs: LEAD } });
    keys = syncQueueKeys(stack.sync.syncQueueTag);
    queue = new Queue(SYNC_QUEUE, { connection, prefix: keys.prefix });
    ada = await guest(stack.gatewayUrls[0]!, "Ada");
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((p) => p.kill()));
  });
  afterAll(async () => {
    await stack.stop();
    await queue.close();
    await closeRedis(connection);
    look.disconnect();
  });

  async function playingRoom() {
    const state = (await ada.rooms.createRoom({}, ada.auth)).state!;
    const stream = await ada.connect();
    await joinOnStream(stream, state.roomCode);
    await ada.playback.start({ roomId: state.roomId, trackId: "song" }, ada.auth);
    await eventually(() => queue.getJobScheduler(state.roomId));
    return { roomId: state.roomId, stream };
  }

  it("reconciles on start: every playing room gets a schedule, no other room keeps one", async () => {
    const lost = await playingRoom(); // its scheduler was lost
    await queue.removeJobScheduler(lost.roomId);
    const unindexed = await playingRoom(); // missing from the index
    await look.srem(keys.playingRooms, unindexed.roomId);
    const paused = await playingRoom(); // paused, with a scheduler left behind
    await ada.playback.pause({ roomId: paused.roomId }, ada.auth);
    await eventually(async () => ((await queue.getJobScheduler(paused.roomId)) === undefined ? true : undefined));
    await queue.upsertJobScheduler(paused.roomId, { every: INTERVAL }, { data: { roomId: paused.roomId } });
    await look.sadd(keys.playingRooms, paused.roomId);
    const dead = await playingRoom(); // its scheduler lost its next job
    const { next } = (await queue.getJobScheduler(dead.roomId))!;
    const deadJob = `repeat:${dead.roomId}:${next}`;
    // The job waits in the delayed set, or, when the machine was slow enough that its due time
    // had passed as it was made, in the wait list: it goes from both.
    const queueKey = `${keys.prefix}:${SYNC_QUEUE}`;
    await look.zrem(`${queueKey}:delayed`, deadJob);
    await look.lrem(`${queueKey}:wait`, 0, deadJob);
    await look.del(`${queueKey}:${deadJob}`);
    await eventually(async () => (next! < Date.now() - 3 * INTERVAL ? true : undefined), WAIT_MS, "the job overdue");
    const ghost = "no-such-room-" + Date.now(); // a room that is gone
    await queue.upsertJobScheduler(ghost, { every: INTERVAL, startDate: Date.now() + 60_000 }, { data: { roomId: ghost } });
    await look.sadd(keys.playingRooms, ghost);

    const scheduler = await startTestScheduler({ name: "reconciler", clock: stack.clock, sync: stack.sync });
    try {
      expect(await queue.getJobScheduler(lost.roomId)).toBeDefined();
      expect(await look.sismember(keys.playingRooms, unindexed.roomId)).toBe(1);
      expect(await queue.getJobScheduler(paused.roomId)).toBeUndefined();
      expect(await look.sismember(keys.playingRooms, paused.roomId)).toBe(0);
      expect(await queue.getJobScheduler(ghost)).toBeUndefined();
      expect(await look.sismember(keys.playingRooms, ghost)).toBe(0);
      const page = await (await fetch(`${scheduler.operatorUrl}/metrics`)).text();
      expect(page).toContain('scheduler_reconcile_fixes_total{fix="scheduled"} 2');
      expect(page).toContain('scheduler_reconcile_fixes_total{fix="indexed"} 1');
      expect(page).toContain('scheduler_reconcile_fixes_total{fix="unscheduled"} 2');
      // The rooms that had lost their scheduler or its job tick again.
      expect((await lost.stream.next("playbackSync")).message.value.roomId).toBe(lost.roomId);
      expect((await dead.stream.next("playbackSync")).message.value.roomId).toBe(dead.roomId);
    } finally {
      await scheduler.stop();
      for (const r of [lost, unindexed, paused, dead]) {
        r.stream.cancel();
        await ada.playback.stop({ roomId: r.roomId }, ada.auth).catch(() => undefined);
      }
    }
  });

  // Two scheduler processes start (seconds each on a busy machine) before the ticks are
  // counted: the waits are for events, the test's time limit only a backstop.
  it("carries on with the other process when one of two is killed", async () => {
    const rooms = await Promise.all(Array.from({ length: 6 }, () => playingRoom()));
    try {
      const recorders = rooms.map((r) => recorder(r.stream));
      const [doomed, survivor] = await Promise.all([schedulerProcess(), schedulerProcess()]);
      await Promise.all(recorders.map((r) => r.count(3)));
      await doomed.kill();
      const counts = recorders.map((r) => r.syncs.length);
      await Promise.all(recorders.map((r, i) => r.count(counts[i]! + 5)));
      for (const r of recorders) await r.stop();
      for (const r of recorders) expectOnGrid(r.syncs, INTERVAL);
      const page = await (await fetch(`${survivor.operatorUrl}/metrics`)).text();
      expect(page).toMatch(/scheduler_ticks_total\{outcome="sent"[^}]*\} [1-9]/);
    } finally {
      for (const r of rooms) await ada.playback.stop({ roomId: r.roomId }, ada.auth);
    }
  }, 60_000);

  it("takes back a stalled job (a worker that took it and died) and never sends an old tick after a newer one", async () => {
    const room = await playingRoom();
    // A worker takes the room's next job and dies holding it: its lock runs out, nobody ends it.
    const dying = new Worker(SYNC_QUEUE, null, { connection, prefix: keys.prefix, lockDuration: 500, autorun: false });
    // One fetch returns nothing when it finds no job due yet: fetch until the room's job is due.
    const job = await eventually(() => dying.getNextJob("dying-worker"), 10_000, "the room's next job");
    expect(job.data).toEqual({ roomId: room.roomId });
    await dying.close(true);
    await eventually(async () => ((await look.exists(`${keys.prefix}:${SYNC_QUEUE}:${job.id}:lock`)) === 0 ? true : undefined), 10_000, "lock gone");
    expect(await job.getState()).toBe("active");

    const ticks = recorder(room.stream);
    const scheduler = await schedulerProcess();
    // The stalled-job check hands it back; it is done and removed like any tick (not failed, not
    // left active). Its tick went out already from the job made when it was taken, or is older
    // than one that did: either way nothing is sent twice or out of order.
    await eventually(async () => ((await queue.getJobState(job.id!)) === "unknown" ? true : undefined), 20_000, "stalled job done");
    await ticks.count(3);
    await ticks.stop();
    expectOnGrid(ticks.syncs, INTERVAL); // in order, none twice
    const page = await (await fetch(`${scheduler.operatorUrl}/metrics`)).text();
    expect(page).not.toMatch(/scheduler_ticks_total\{outcome="error"[^}]*\} [1-9]/);
    const failed = await queue.getFailed();
    expect(failed.filter((j) => j.data.roomId === room.roomId).map((j) => j.failedReason)).toEqual([]);
    await ada.playback.stop({ roomId: room.roomId }, ada.auth);
  }, 60_000);

  it("stops gracefully on SIGTERM", async () => {
    const proc = await schedulerProcess();
    running.splice(running.indexOf(proc), 1);
    expect(await proc.stop()).toBe(0);
  });
});
