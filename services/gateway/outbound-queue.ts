/**
 * The messages waiting to be written to one stream. Bounded: a client that reads too slowly
 * fills it, and push() then refuses instead of buffering without limit; the stream's owner
 * ends that stream. The stream's writer consumes it with next().
 */
export class OutboundQueue<T> {
  private items: T[] = [];
  private head = 0;
  private waiter: ((result: IteratorResult<T>) => void) | undefined;
  private failWaiter: ((err: unknown) => void) | undefined;
  private ended = false;
  /** A reader of the client's input waiting for the queue to shrink (see whenBelow). */
  private roomWaiter: { level: number; resolve: () => void } | undefined;
  private failure: { err: unknown } | undefined;

  constructor(private readonly capacity: number) {}

  /** How many messages wait. */
  get size(): number {
    return this.items.length - this.head;
  }

  /**
   * Queues a message: "queued", "full" (the reader is too slow; not queued), or "ended" (the
   * queue was closed or failed; not queued).
   */
  push(item: T): "queued" | "full" | "ended" {
    if (this.ended) return "ended";
    if (this.waiter) {
      const resolve = this.waiter;
      this.clearWaiter();
      resolve({ value: item, done: false });
      return "queued";
    }
    if (this.size >= this.capacity) return "full";
    this.items.push(item);
    return "queued";
  }

  /** No more messages: next() drains what is queued, then reports done. */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.wakeRoomWaiter();
    if (this.waiter && this.size === 0) {
      const resolve = this.waiter;
      this.clearWaiter();
      resolve({ value: undefined, done: true });
    }
  }

  /** Ends the queue with an error: queued messages are dropped and next() rejects. */
  fail(err: unknown): void {
    if (this.failure) return;
    this.failure = { err };
    this.ended = true;
    this.items = [];
    this.head = 0;
    this.wakeRoomWaiter();
    if (this.failWaiter) {
      const reject = this.failWaiter;
      this.clearWaiter();
      reject(err);
    }
  }

  /**
   * Resolves once fewer than `level` messages wait, or the queue has ended: a reader of the
   * client's input waits here, so a client sending faster than its answers leave is slowed
   * down (flow control) instead of filling the queue. One waiter at a time.
   */
  whenBelow(level: number): Promise<void> {
    if (this.size < level || this.ended) return Promise.resolve();
    return new Promise((resolve) => (this.roomWaiter = { level, resolve }));
  }

  private wakeRoomWaiter(): void {
    const waiter = this.roomWaiter;
    if (waiter && (this.size < waiter.level || this.ended)) {
      this.roomWaiter = undefined;
      waiter.resolve();
    }
  }

  /** The next message; waits while the queue is empty. */
  next(): Promise<IteratorResult<T>> {
    if (this.failure) return Promise.reject(this.failure.err);
    if (this.size > 0) {
      const value = this.items[this.head]!;
      this.items[this.head++] = undefined as T;
      if (this.head === this.items.length) {
        this.items = [];
        this.head = 0;
      }
      this.wakeRoomWaiter();
      return Promise.resolve({ value, done: false });
    }
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiter = resolve;
      this.failWaiter = reject;
    });
  }

  private clearWaiter(): void {
    this.waiter = undefined;
    this.failWaiter = undefined;
  }
}
