import type { Client } from "@connectrpc/connect";
import type { ClockSampleService } from "../../gen/groovebox/clock/v1/clock_pb.js";
import type { Logger } from "../common/logger.js";
import { recordSamplesRequest, type ClockSampleFields } from "./sample-batch.js";

type Operation =
  | { kind: "sample"; sample: ClockSampleFields }
  | { kind: "room"; sessionId: string; roomId: string; previousRoomId: string }
  | { kind: "end"; sessionId: string; roomId: string };

/** Room changes and session ends sent at once, at most. */
const MAX_PARALLEL_CONTROL = 64;

export interface ClockReporterOptions {
  /** How long a sample may wait for others to share its call. */
  batchDelayMs: number;
  /** The most samples per RecordSamples call. */
  maxBatch: number;
  /** The most operations waiting; beyond it new samples are dropped (counted). */
  maxQueued: number;
}

export interface ClockReporterEvents {
  onDropped?(count: number): void;
  onFailed?(count: number): void;
}

/**
 * Hands the gateway's clock work to the clock service in the background: full samples
 * (batched into RecordSamples calls), room changes and session ends, in the order they
 * happened. Order matters: a session's end must not be overtaken by its last samples, or they
 * would write its keys again. Nothing here is ever awaited by a
 * stream: pongs never wait on the clock service. When the clock service is down, samples
 * are dropped (the next ones replace them).
 */
export function createClockReporter(
  client: Client<typeof ClockSampleService>,
  opts: ClockReporterOptions,
  log: Logger,
  events: ClockReporterEvents = {},
) {
  let queue: Operation[] = [];
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  // Failures are logged once per outage, not once per call.
  let failing = false;
  const failed = (err: unknown, what: string) => {
    if (!failing) log.warn({ err }, `clock service call failed (${what}); dropping clock updates until it answers`);
    failing = true;
  };
  const succeeded = () => {
    if (failing) log.info("clock service answers again");
    failing = false;
  };

  function enqueue(op: Operation, urgent: boolean): void {
    if (op.kind === "sample" && queue.length >= opts.maxQueued) {
      events.onDropped?.(1);
      return;
    }
    queue.push(op);
    if (urgent || queue.length >= opts.maxBatch) schedule(0);
    else schedule(opts.batchDelayMs);
  }

  function schedule(delayMs: number): void {
    if (running) return; // the running drain picks it up
    if (timer && delayMs > 0) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      running = drain().finally(() => {
        running = undefined;
        if (queue.length > 0) schedule(opts.batchDelayMs);
      });
    }, delayMs);
  }

  async function drain(): Promise<void> {
    while (queue.length > 0) {
      const head = queue[0]!;
      if (head.kind === "sample") {
        let n = 0;
        while (n < queue.length && n < opts.maxBatch && queue[n]!.kind === "sample") n++;
        const samples = queue.splice(0, n).map((op) => (op as Extract<Operation, { kind: "sample" }>).sample);
        await client.recordSamples(recordSamplesRequest(samples)).then(succeeded, (err: unknown) => {
          events.onFailed?.(samples.length);
          failed(err, "samples");
        });
      } else {
        // A run of room changes and session ends (many streams joining at once): those of
        // different sessions go out together; a session's own updates stay in order.
        const run: Array<Exclude<Operation, { kind: "sample" }>> = [];
        const sessions = new Set<string>();
        for (const op of queue) {
          if (op.kind === "sample" || sessions.has(op.sessionId) || run.length === MAX_PARALLEL_CONTROL) break;
          sessions.add(op.sessionId);
          run.push(op);
        }
        queue.splice(0, run.length);
        await Promise.all(run.map((op) => runControl(op).then(succeeded, (err: unknown) => failed(err, op.kind))));
      }
    }
  }

  function runControl(op: Exclude<Operation, { kind: "sample" }>): Promise<unknown> {
    return op.kind === "room"
      ? client.setSessionRoom({ sessionId: op.sessionId, roomId: op.roomId, previousRoomId: op.previousRoomId })
      : client.endSession({ sessionId: op.sessionId, roomId: op.roomId });
  }

  return {
    /** A complete sample of a session. */
    addSample(sample: ClockSampleFields): void {
      enqueue({ kind: "sample", sample }, false);
    },
    /** The session moved to another room ("" = none). */
    setRoom(sessionId: string, roomId: string, previousRoomId: string): void {
      enqueue({ kind: "room", sessionId, roomId, previousRoomId }, true);
    },
    /** The session ended: its queued samples are dropped and its clock state forgotten. */
    endSession(sessionId: string, roomId: string): void {
      queue = queue.filter((op) => op.kind !== "sample" || op.sample.sessionId !== sessionId);
      enqueue({ kind: "end", sessionId, roomId }, true);
    },
    /** Sends what is queued and waits for it (shutdown, tests). */
    async flush(): Promise<void> {
      clearTimeout(timer);
      timer = undefined;
      while (running || queue.length > 0) {
        if (running) await running;
        else {
          running = drain().finally(() => (running = undefined));
        }
      }
    },
  };
}

export type ClockReporter = ReturnType<typeof createClockReporter>;
