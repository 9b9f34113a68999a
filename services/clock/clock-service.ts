import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { ClockSampleService, type ClockSample } from "../../gen/groovebox/clock/v1/clock_pb.js";
import type { ClockSource } from "../common/clock-source.js";
import { invalidArgument } from "../common/errors.js";
import { optionalId, requireId } from "../common/validate.js";
import type { SampleStore, SessionSamples } from "./sample-store.js";

/** The most samples one RecordSamples call may carry. */
export const MAX_SAMPLES_PER_CALL = 10_000;

/** Groups samples by session, keeping each session's order and its latest room. */
function groupBySession(samples: readonly ClockSample[]): SessionSamples[] {
  const bySession = new Map<string, SessionSamples>();
  for (const s of samples) {
    requireId(s.sessionId, "session_id");
    optionalId(s.roomId, "room_id");
    let group = bySession.get(s.sessionId);
    if (!group) {
      group = { sessionId: s.sessionId, roomId: s.roomId, exchanges: [] };
      bySession.set(s.sessionId, group);
    }
    group.roomId = s.roomId;
    group.exchanges.push({
      t0: s.clientSendTimeMs,
      t1: s.serverReceiveTimeMs,
      t2: s.serverSendTimeMs,
      t3: s.clientReceiveTimeMs,
    });
  }
  return [...bySession.values()];
}

/** The internal ClockSampleService: samples in, estimates and room round trips out. */
export function createClockSampleService(deps: { store: SampleStore; clock: ClockSource }): ServiceImpl<typeof ClockSampleService> {
  const { store, clock } = deps;
  return {
    async recordSamples(req) {
      if (req.samples.length > MAX_SAMPLES_PER_CALL) {
        throw invalidArgument(`at most ${MAX_SAMPLES_PER_CALL} samples per call`);
      }
      const groups = groupBySession(req.samples);
      const now = clock.now();
      const accepted = (await Promise.all(groups.map((g) => store.record(g, now)))).reduce((a, b) => a + b, 0);
      return { accepted, rejected: req.samples.length - accepted };
    },

    async getSessionEstimate(req) {
      const sessionId = requireId(req.sessionId, "session_id");
      const estimate = await store.estimate(sessionId, clock.now());
      if (!estimate) throw new ConnectError(`no clock estimate for session ${sessionId}`, Code.NotFound);
      return { estimate };
    },

    async setSessionRoom(req) {
      await store.setSessionRoom(
        requireId(req.sessionId, "session_id"),
        optionalId(req.roomId, "room_id"),
        optionalId(req.previousRoomId, "previous_room_id"),
        clock.now(),
      );
      return {};
    },

    async endSession(req) {
      await store.endSession(requireId(req.sessionId, "session_id"), optionalId(req.roomId, "room_id"));
      return {};
    },
  };
}
