import { OutboundQueue } from "./outbound-queue.js";

describe("OutboundQueue", () => {
  it("delivers in order, to a waiting reader too", async () => {
    const q = new OutboundQueue<number>(10);
    const first = q.next();
    expect(q.push(1)).toBe("queued");
    expect(q.push(2)).toBe("queued");
    expect(await first).toEqual({ value: 1, done: false });
    expect(await q.next()).toEqual({ value: 2, done: false });
  });

  it("refuses past its capacity instead of growing", () => {
    const q = new OutboundQueue<number>(2);
    expect([q.push(1), q.push(2), q.push(3)]).toEqual(["queued", "queued", "full"]);
    expect(q.size).toBe(2);
  });

  it("drains what is queued after close, then reports done", async () => {
    const q = new OutboundQueue<string>(5);
    q.push("a");
    q.close();
    expect(q.push("b")).toBe("ended");
    expect(await q.next()).toEqual({ value: "a", done: false });
    expect((await q.next()).done).toBe(true);
  });

  it("wakes a waiting reader on close", async () => {
    const q = new OutboundQueue<string>(5);
    const pending = q.next();
    q.close();
    expect((await pending).done).toBe(true);
  });

  it("rejects the reader with the failure and drops queued messages", async () => {
    const q = new OutboundQueue<string>(5);
    const pending = q.next();
    const err = new Error("slow");
    q.fail(err);
    await expect(pending).rejects.toBe(err);
    const q2 = new OutboundQueue<string>(5);
    q2.push("x");
    q2.fail(err);
    await expect(q2.next()).rejects.toBe(err);
  });

  describe("writeThrough", () => {
    it("writes what is queued first, then each push at once, in order", () => {
      const q = new OutboundQueue<number>(10);
      q.push(1);
      q.push(2);
      const written: number[] = [];
      void q.writeThrough((n) => (written.push(n), true));
      expect(written).toEqual([1, 2]);
      q.push(3);
      expect(written).toEqual([1, 2, 3]);
      expect(q.size).toBe(0);
    });

    it("queues again once the writer is full, until it writes through again", async () => {
      const q = new OutboundQueue<number>(10);
      const written: number[] = [];
      let room = true;
      const write = (n: number) => (written.push(n), room);
      const first = q.writeThrough(write);
      room = false;
      q.push(1);
      expect(await first).toBe("full");
      q.push(2);
      q.push(3);
      expect(written).toEqual([1]);
      expect(q.size).toBe(2);
      room = true;
      void q.writeThrough(write);
      q.push(4);
      expect(written).toEqual([1, 2, 3, 4]);
    });

    it("still bounds what queues while the writer is full", async () => {
      const q = new OutboundQueue<number>(2);
      const full = q.writeThrough(() => false);
      q.push(1);
      expect(await full).toBe("full");
      expect([q.push(2), q.push(3), q.push(4)]).toEqual(["queued", "queued", "full"]);
    });

    it("ends once closed and written out, and rejects on failure", async () => {
      const q = new OutboundQueue<number>(5);
      q.push(1);
      q.close();
      const written: number[] = [];
      expect(await q.writeThrough((n) => (written.push(n), true))).toBe("ended");
      expect(written).toEqual([1]);

      const q2 = new OutboundQueue<number>(5);
      const waiting = q2.writeThrough(() => true);
      q2.close();
      expect(await waiting).toBe("ended");

      const q3 = new OutboundQueue<number>(5);
      const err = new Error("slow");
      const failing = q3.writeThrough(() => true);
      q3.fail(err);
      await expect(failing).rejects.toBe(err);
      expect(q3.push(1)).toBe("ended");
    });

    it("survives a write that fails the queue", async () => {
      const q = new OutboundQueue<number>(5);
      const err = new Error("gone");
      const writing = q.writeThrough(() => (q.fail(err), false));
      expect(q.push(1)).toBe("queued");
      await expect(writing).rejects.toBe(err);
    });
  });
});
