import { CorrectionTier as WireTier } from "../../../gen/groovebox/clock/v1/clock_pb.js";
import type { ClockEstimate } from "../clock/clock-sync.js";
import type { CorrectionTier } from "../playback/correction.js";
import type { SyncReportInit } from "./channel.js";

const TIERS: Record<CorrectionTier | "idle", WireTier> = {
  idle: WireTier.IDLE,
  "in-sync": WireTier.IN_SYNC,
  nudge: WireTier.NUDGE,
  seek: WireTier.SEEK,
};

/** The sync_report a device sends: its clock estimate, output latency and playback quality. */
export function buildSyncReport(input: {
  estimate: ClockEstimate;
  outputLatencyMs: number;
  quality: { tier: CorrectionTier | "idle"; errorMs: number };
  deviceId: string;
}): SyncReportInit {
  const { estimate, quality } = input;
  return {
    offsetMs: estimate.offsetMs,
    rttMs: estimate.rttMs,
    driftPpm: estimate.driftPpm,
    errorBoundMs: estimate.errorBoundMs,
    outputLatencyMs: input.outputLatencyMs,
    playbackErrorMs: quality.errorMs,
    correctionTier: TIERS[quality.tier],
    deviceId: input.deviceId,
  };
}

/** The tier a member's sync report names; undefined when it names none. */
export function reportedTier(tier: WireTier | undefined): CorrectionTier | "idle" | undefined {
  return (Object.keys(TIERS) as Array<CorrectionTier | "idle">).find((k) => TIERS[k] === tier);
}
