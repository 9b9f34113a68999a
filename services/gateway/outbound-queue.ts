/**
 * The messages waiting to be written to one stream. Bounded: a client that reads too slowly
 * fills it, and push() then refuses instead of buffering without limit; the stream's owner
 * ends that stream. The stream's writer consumes it with next(), or takes messages as they
 * are pushed with writeThrough().
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
  /** A writer taking messages inside push() (see writeThrough). */
  private sink: { write: (item: T) => boolean; stop: (r: "full" | "ended") => void; abort: (err: unknown) => void } | undefined;

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
    const sink = this.sink;
    if (sink) {
      // The write may have ended the queue meanwhile (then the sink is gone already).
      if (!sink.write(item) && this.sink === sink) this.stopSink("full");
      return "queued";
    }
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
    if (this.sink) this.stopSink("ended");
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
    if (this.sink) {
      const { abort } = this.sink;
      this.sink = undefined;
      abort(err);
    }
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
    if (this.size > 0) return Promise.resolve({ value: this.shift(), done: false });
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiter = resolve;
      this.failWaiter = reject;
    });
  }

  /**
   * Writes what is queued with `write`, then has push() hand each new message straight to it,
   * with no promise or wake-up per message, for as long as `write` returns true (the consumer
   * takes more). Resolves "full" once `write` returned false (messages queue again until the
   * next call), "ended" once the queue is closed and written out; rejects when it fails.
   * Not alongside next().
   */
  writeThrough(write: (item: T) => boolean): Promise<"full" | "ended"> {
    while (this.size > 0 && !this.failure) {
      if (!write(this.shift())) return Promise.resolve("full");
    }
    if (this.failure) return Promise.reject(this.failure.err);
    if (this.ended) return Promise.resolve("ended");
    return new Promise((stop, abort) => (this.sink = { write, stop, abort }));
  }

  /** Takes the oldest queued message (there is one). */
  private shift(): T {
    const value = this.items[this.head]!;
    this.items[this.head++] = undefined as T;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    }
    this.wakeRoomWaiter();
    return value;
  }

  private stopSink(result: "full" | "ended"): void {
    const { stop } = this.sink!;
    this.sink = undefined;
    stop(result);
  }

  private clearWaiter(): void {
    this.waiter = undefined;
    this.failWaiter = undefined;
  }
}
