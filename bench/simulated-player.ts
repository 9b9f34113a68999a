import type { Correction } from "../clients/sdk/playback/playback-follower.js";

/**
 * A simulated device's audio output, driven the way an app drives its player with the SDK:
 * it feeds the track at a rate by the device's own clock (its audio hardware runs on the
 * same crystal), starts where the SDK says, and applies the SDK's corrections. The benchmark
 * knows the truth, so it can say what the room hears from this device at any true instant.
 */
export class SimulatedPlayer {
  private playing = false;
  /** Position fed at device time l0, advancing at `rate` track-ms per device-ms. */
  private p0 = 0;
  private l0 = 0;
  private rate = 1;

  constructor(readonly outputLatencyMs: number) {}

  get isPlaying(): boolean {
    return this.playing;
  }

  /** Starts feeding position `positionMs` at device time `localMs`, at `rate`. */
  play(localMs: number, positionMs: number, rate: number): void {
    this.playing = true;
    this.p0 = positionMs;
    this.l0 = localMs;
    this.rate = rate;
  }

  stop(): void {
    this.playing = false;
  }

  /** The position being fed at device time `localMs`. */
  fedAt(localMs: number): number {
    return this.p0 + (localMs - this.l0) * this.rate;
  }

  /** The position heard (leaving the speaker) at device time `localMs`: fed one output latency earlier. */
  heardAt(localMs: number): number {
    return this.fedAt(localMs - this.outputLatencyMs);
  }

  /** Applies an SDK correction decided for device time `localMs`. */
  apply(c: Correction, localMs: number): void {
    if (!this.playing) return;
    const position = c.tier === "seek" && c.seekToMs !== undefined ? c.seekToMs : this.fedAt(localMs);
    this.play(localMs, position, c.rate);
  }
}
