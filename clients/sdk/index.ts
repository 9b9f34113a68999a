/**
 * The groovebox client SDK, environment-neutral part. Apps import the entry point for their
 * environment, which picks the transport: `node.ts` (gRPC bidi stream over HTTP/2) or
 * `browser.ts` (Connect unary calls and Subscribe over fetch). Both export everything here.
 */
export { GrooveboxClient, type ClientEnvironment, type GrooveboxClientEvents, type GrooveboxClientOptions, type StartOptions } from "./client.js";
export {
  advanceClockFilter,
  defaultClockFilterOptions,
  estimateAt,
  evaluateExchange,
  type ClockEstimateValue,
  type ClockFilterOptions,
  type ClockFilterState,
  type ExchangeTimes,
  type RttFloor,
} from "./clock/clock-filter.js";
export { ClockModel, DEFAULT_STEP_OPTIONS, type ClockFit, type StepOptions } from "./clock/clock-model.js";
export { ClockSync, DEFAULT_CLOCK_SYNC_OPTIONS, type ClockEstimate, type ClockSyncOptions, type Pinger } from "./clock/clock-sync.js";
export { performanceClock, type LocalClock } from "./clock/local-clock.js";
export { describeClock, describeEvent, describeTier, describeTimeline, formatPosition, signed, timeOfDay } from "./describe.js";
export { Emitter } from "./emitter.js";
export { decideCorrection, DEFAULT_CORRECTION_OPTIONS, type CorrectionDecision, type CorrectionOptions, type CorrectionTier } from "./playback/correction.js";
export { PlaybackFollower, type Correction, type CorrectionCounts, type PlaybackCause, type PlaybackUpdate } from "./playback/playback-follower.js";
export { position, timelineOf, type Timeline } from "./playback/timeline.js";
export { Backoff, DEFAULT_BACKOFF, type BackoffOptions } from "./session/backoff.js";
export type { Channel, ChannelContext, ChannelFactory, Command, SyncReportInit } from "./session/channel.js";
export { RoomSession, type ConnectionStatus, type StatusDetail } from "./session/room-session.js";
export { openStreamChannel } from "./session/stream-channel.js";
export { reportedTier } from "./session/sync-reporter.js";
export { openUnaryChannel } from "./session/unary-channel.js";
export type { TransportFactory, TransportHandle } from "./transport.js";
