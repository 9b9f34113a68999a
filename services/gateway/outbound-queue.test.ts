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
});
