import { Redis } from "ioredis";
import { codeKey, presenceDueKey, roomKeys } from "../services/common/keys.js";
import { createRoomStore, SWEEP_PAGE, type RoomStoreOptions } from "../services/rooms/room-store.js";
import { startPrivateRedis, type PrivateRedis } from "./support/redis-server.js";
import { testLogger } from "./support/stack.js";

const T0 = 1_900_000_000_000;
const opts: RoomStoreOptions = { graceMs: 30_000, idleMs: 600_000, leaseMs: 30_000, emptyRoomTtlMs: 900_000 };

/**
 * The rooms service's storage on a Redis of its own (one server whatever the run's mode), so
 * the test can read the server's command counts and give the store a user that may not write
 * every key.
 */
describe("room store: bounded sweeps, and the keys beside a room script", () => {
  let server: PrivateRedis;
  let admin: Redis;
  const clients: Redis[] = [];
  beforeAll(async () => {
    server = await startPrivateRedis({ mode: "single" });
    admin = new Redis(server.target.url);
  });
  afterAll(async () => {
    for (const c of [admin, ...clients]) c.disconnect();
    await server.destroy();
  });

  /** A store connected as a Redis user with these key permissions (ACL selectors). */
  async function storeAs(user: string, ...keys: string[]) {
    await admin.call("ACL", "SETUSER", user, "reset", "on", "nopass", "+@all", "allchannels", ...keys);
    const client = new Redis(server.target.url, { username: user, password: "x" });
    clients.push(client);
    return createRoomStore(client, opts, testLogger("rooms"));
  }

  /** Calls per command since the last CONFIG RESETSTAT. */
  async function commandCalls(): Promise<Record<string, number>> {
    const info = await admin.info("commandstats");
    return Object.fromEntries([...info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)].map((m) => [m[1]!, Number(m[2])]));
  }

  it("sweeps members whose streams' gateway died in pages, never reading every stream of the room per member", async () => {
    const store = await storeAs("rooms-all", "~*");
    const { roomId } = await store.create({ name: "", userId: "dj", displayName: "DJ" }, T0);
    const members = 3 * SWEEP_PAGE;
    await Promise.all(
      Array.from({ length: members }, (_, i) =>
        store.attach(roomId, { sessionId: `s${i}`, userId: `u${i}`, displayName: `U${i}`, mustBeMember: false }, T0),
      ),
    );
    await admin.config("RESETSTAT");
    await store.sweep(roomId, T0 + opts.leaseMs + 1); // every lease ran out: the grace periods start
    await store.sweep(roomId, T0 + opts.leaseMs + opts.graceMs + 2); // and end

    const calls = await commandCalls();
    expect((await store.read(roomId))!.members.map((m) => m.userId)).toEqual(["dj"]);
    expect(calls.hgetall ?? 0).toBe(0);
    // Each script call handles a page: 3 pages of streams, 3 of members, and the last look.
    expect(calls.evalsha).toBeGreaterThanOrEqual(2 * (members / SWEEP_PAGE));
  });

  it("claims a join code with the empty room's lifetime, so a room that is never made frees it", async () => {
    const store = await storeAs("rooms-codes-only", "~code:*", "~presence:*");
    await expect(store.create({ name: "", userId: "dj", displayName: "DJ" }, T0)).rejects.toThrow(/NOPERM/);
    const orphans = [];
    for (const key of await admin.keys(codeKey("*"))) {
      const roomId = (await admin.get(key))!;
      if ((await admin.exists(roomKeys.meta(roomId))) === 0) orphans.push({ key, ttl: await admin.pttl(key) });
    }
    expect(orphans).toHaveLength(1);
    expect(orphans[0]!.ttl).toBeGreaterThan(0);
    expect(orphans[0]!.ttl).toBeLessThanOrEqual(opts.emptyRoomTtlMs);
  });

  it("never leaves a room with a deadline out of the due set when the due set cannot be written", async () => {
    const store = await storeAs("rooms-due-read-only", "~room:*", "~code:*", "%R~presence:*");
    await expect(store.create({ name: "", userId: "dj", displayName: "DJ" }, T0)).rejects.toThrow(/NOPERM/);
    // Every room in Redis is due no later than its first deadline, or the sweeper would never end it.
    for (const key of await admin.keys(roomKeys.meta("*"))) {
      const roomId = /\{(.+)\}/.exec(key)![1]!;
      const firsts = await Promise.all(
        [roomKeys.sessions(roomId), roomKeys.leaving(roomId)].map(async (k) => Number((await admin.zrange(k, "0", "0", "WITHSCORES"))[1] ?? Infinity)),
      );
      const due = await admin.zscore(presenceDueKey, roomId);
      expect({ roomId, due: due === null ? null : Number(due) <= Math.min(...firsts) }).toEqual({ roomId, due: true });
    }
  });
});
