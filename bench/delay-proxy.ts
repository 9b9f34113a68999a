/**
 * A TCP delay proxy: a network link with delay, jitter and spikes, for a kernel without
 * netem. Each direction of each connection is a delay line: every chunk read is written on
 * after its own delay, and never before the chunk read ahead of it (order is kept, so jitter
 * queues instead of reordering, as a real path does). One proxy is one link: listen on one
 * port, forward to one target.
 */
import { createServer, connect, type Server, type Socket } from "node:net";

/** How one link behaves. All delays are one-way, in ms. */
export interface LinkProfile {
  /** The base one-way delay of each direction (RTT = 2 x base, plus the asymmetry). */
  baseDelayMs: number;
  /**
   * Heavy-tailed extra delay per chunk: Pareto with this median (ms; 0 = none), shape
   * jitterShape (smaller = heavier tail), capped at jitterMaxMs.
   */
  jitterMedianMs: number;
  jitterShape: number;
  jitterMaxMs: number;
  /** Spikes: episodes of spikeDurationMs in which one direction is delayed by 50-200 ms more. Per minute, on average. */
  spikesPerMinute: number;
  spikeDurationMs: number;
  /** Added to the upstream (client to server) direction only: a constant path asymmetry. */
  asymmetryMs: number;
}

export const NO_DELAY: LinkProfile = {
  baseDelayMs: 0,
  jitterMedianMs: 0,
  jitterShape: 1.5,
  jitterMaxMs: 0,
  spikesPerMinute: 0,
  spikeDurationMs: 0,
  asymmetryMs: 0,
};

export type Direction = "up" | "down";

/** A deterministic pseudo-random source in [0, 1) (mulberry32), so a seed repeats a run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The delay of chunks in one direction of a link: base, jitter, spikes, asymmetry. Pure
 * apart from the random source and the time it is given, so it is tested directly.
 */
export class DelayModel {
  private spikeUntil = -Infinity;
  private spikeExtra = 0;
  private nextSpikeAt: number;

  constructor(
    private readonly profileOf: () => LinkProfile,
    private readonly direction: Direction,
    private readonly random: () => number,
    nowMs: number,
  ) {
    this.nextSpikeAt = nowMs + this.spikeGap();
  }

  private spikeGap(): number {
    const perMinute = this.profileOf().spikesPerMinute;
    if (perMinute <= 0) return Infinity;
    // Exponential gaps: spikes come as a Poisson process.
    return (-Math.log(1 - this.random()) * 60_000) / perMinute;
  }

  /** The one-way delay (ms) of a chunk read at `nowMs`. */
  delayAt(nowMs: number): number {
    const p = this.profileOf();
    if (this.nextSpikeAt === Infinity && p.spikesPerMinute > 0) this.nextSpikeAt = nowMs + this.spikeGap();
    while (nowMs >= this.nextSpikeAt) {
      this.spikeUntil = this.nextSpikeAt + p.spikeDurationMs;
      // A spike hits one direction; the other direction's model skips it.
      this.spikeExtra = this.random() < 0.5 ? 50 + this.random() * 150 : 0;
      this.nextSpikeAt += p.spikeDurationMs + this.spikeGap();
    }
    let delay = p.baseDelayMs + (this.direction === "up" ? p.asymmetryMs : 0);
    if (nowMs < this.spikeUntil) delay += this.spikeExtra;
    if (p.jitterMedianMs > 0) {
      // Pareto with scale x_m and shape a has median x_m * 2^(1/a); shifted to start at 0.
      const xm = p.jitterMedianMs / (2 ** (1 / p.jitterShape) - 1);
      const extra = xm * ((1 - this.random()) ** (-1 / p.jitterShape) - 1);
      delay += Math.min(extra, p.jitterMaxMs);
    }
    return delay;
  }
}

/**
 * Writes chunks to `out` after their delays, in order: a FIFO with one timer for its head
 * (separate timers per chunk could fire out of order, since Node groups timers by duration).
 */
class DelayLine {
  private readonly queue: Array<{ due: number; chunk: Buffer | null }> = [];
  private lastDue = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  constructor(
    private readonly model: DelayModel,
    private readonly out: Socket,
    private readonly now: () => number,
  ) {}

  /** Queues a chunk; null ends `out` once everything before it is written. */
  push(chunk: Buffer | null): void {
    const now = this.now();
    const due = Math.max(chunk === null ? now : now + this.model.delayAt(now), this.lastDue);
    this.lastDue = due;
    this.queue.push({ due, chunk });
    if (this.queue.length === 1) this.flush();
  }

  private flush(): void {
    this.timer = undefined;
    if (this.closed) return;
    const now = this.now();
    while (this.queue.length > 0 && this.queue[0]!.due <= now + 0.25) {
      const { chunk } = this.queue.shift()!;
      if (this.out.destroyed) continue;
      if (chunk === null) this.out.end();
      else this.out.write(chunk);
    }
    if (this.queue.length > 0) this.timer = setTimeout(() => this.flush(), this.queue[0]!.due - now);
  }

  drop(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.queue.length = 0;
  }
}

export interface DelayProxy {
  port: number;
  /** Changes the link's behaviour, from the next chunk on. */
  setProfile(profile: LinkProfile): void;
  /** Cuts every connection now (both sides see a reset), as a lost network does. */
  dropConnections(): void;
  /** Connections open now. */
  readonly connections: number;
  close(): Promise<void>;
}

/**
 * Starts a delay proxy on 127.0.0.1 (port 0: a free one) forwarding to target.
 */
export async function startDelayProxy(opts: {
  target: { host: string; port: number };
  profile: LinkProfile;
  port?: number;
  seed?: number;
  now?: () => number;
}): Promise<DelayProxy> {
  let profile = opts.profile;
  const random = seededRandom(opts.seed ?? 1);
  const now = opts.now ?? (() => performance.now());
  const open = new Set<Socket>();

  const server: Server = createServer((client) => {
    const upstream = connect(opts.target);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    open.add(client);
    open.add(upstream);
    const t = now();
    const up = new DelayLine(new DelayModel(() => profile, "up", random, t), upstream, now);
    const down = new DelayLine(new DelayModel(() => profile, "down", random, t), client, now);
    client.on("data", (chunk: Buffer) => up.push(chunk));
    upstream.on("data", (chunk: Buffer) => down.push(chunk));
    client.on("end", () => up.push(null));
    upstream.on("end", () => down.push(null));
    const teardown = () => {
      up.drop();
      down.drop();
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on("error", teardown);
    upstream.on("error", teardown);
    client.on("close", teardown);
    upstream.on("close", teardown);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    setProfile(next) {
      profile = next;
    },
    dropConnections() {
      for (const s of open) s.resetAndDestroy();
      open.clear();
    },
    get connections() {
      return open.size / 2;
    },
    close() {
      for (const s of open) s.destroy();
      open.clear();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
