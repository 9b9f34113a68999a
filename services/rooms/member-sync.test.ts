import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { CorrectionTier, SyncReportSchema } from "../../gen/groovebox/clock/v1/clock_pb.js";
import { checkReport, decodeMemberSync, encodeMemberSync, isMaterialChange, memberSyncOf } from "./member-sync.js";

const report = (fields: Partial<Parameters<typeof create<typeof SyncReportSchema>>[1]> = {}) =>
  create(SyncReportSchema, {
    offsetMs: 1234.5,
    rttMs: 40,
    outputLatencyMs: 20,
    driftPpm: 30,
    playbackErrorMs: 0.3,
    errorBoundMs: 0.8,
    correctionTier: CorrectionTier.IN_SYNC,
    deviceId: "phone-1",
    ...fields,
  });

describe("member sync", () => {
  it("announces the first report and material changes only", () => {
    const base = report();
    expect(isMaterialChange(undefined, base)).toBe(true);
    expect(isMaterialChange(base, report({ offsetMs: 99_999, rttMs: 42, errorBoundMs: 1.1, driftPpm: 35 }))).toBe(false);
    expect(isMaterialChange(base, report({ correctionTier: CorrectionTier.NUDGE }))).toBe(true);
    expect(isMaterialChange(base, report({ outputLatencyMs: 21 }))).toBe(true);
    expect(isMaterialChange(base, report({ errorBoundMs: 3 }))).toBe(true);
    expect(isMaterialChange(base, report({ rttMs: 90 }))).toBe(true);
    expect(isMaterialChange(base, report({ driftPpm: 45 }))).toBe(true);
    expect(isMaterialChange(base, report({ deviceId: "laptop" }))).toBe(true);
  });

  it("refuses reports with numbers out of range, naming the field", () => {
    expect(() => checkReport(undefined)).toThrow(expect.objectContaining({ code: Code.InvalidArgument }));
    expect(() => checkReport(report({ offsetMs: NaN }))).toThrow(/offset_ms/);
    expect(() => checkReport(report({ rttMs: -1 }))).toThrow(/rtt_ms/);
    expect(() => checkReport(report({ outputLatencyMs: 1e9 }))).toThrow(/output_latency_ms/);
    expect(() => checkReport(report({ correctionTier: 99 as CorrectionTier }))).toThrow(/correction_tier/);
    expect(() => checkReport(report({ deviceId: "no {braces}" }))).toThrow(/device_id/);
    expect(checkReport(report())).toBeDefined();
  });

  it("stores a member's sync as text and reads it back", () => {
    const sync = memberSyncOf(report(), 1_800_000_000_000.25);
    expect(decodeMemberSync(encodeMemberSync(sync))).toEqual(sync);
    expect(decodeMemberSync("not json")).toBeUndefined();
  });
});
