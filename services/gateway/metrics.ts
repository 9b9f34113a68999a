import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** One pong in this many has its turnaround observed: an observation costs more than the rest of a pong's bookkeeping. */
export const PONG_TURNAROUND_SAMPLE_EVERY = 16;

/** Bucket bounds (s) of the room event fan-out histogram; the peer benchmark's servers use them too. */
export const FANOUT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1];

/** The gateway's own Prometheus metrics (no per-room or per-user labels). */
export function createGatewayMetrics(registry: Registry) {
  return {
    streams: new Gauge({ name: "gateway_streams", help: "Open client streams", labelNames: ["kind"], registers: [registry] }),
    pings: new Counter({ name: "gateway_pings_total", help: "Pings answered", registers: [registry] }),
    pingsRefused: new Counter({ name: "gateway_pings_refused_total", help: "Pings refused by the rate limit", registers: [registry] }),
    pongTurnaround: new Histogram({
      name: "gateway_pong_turnaround_seconds",
      help: `Time from a ping's receive stamp (t1) to its pong's send stamp (t2), one pong in ${PONG_TURNAROUND_SAMPLE_EVERY}`,
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
      registers: [registry],
    }),
    samplesDropped: new Counter({ name: "gateway_clock_samples_dropped_total", help: "Clock samples not delivered to the clock service", registers: [registry] }),
    streamsEnded: new Counter({ name: "gateway_streams_ended_total", help: "Streams ended, by reason", labelNames: ["reason"], registers: [registry] }),
    fanout: new Histogram({
      name: "gateway_room_event_fanout_seconds",
      help: "Time from a room event's arrival from Redis to its hand-off to the last local stream of the room",
      buckets: FANOUT_BUCKETS,
      registers: [registry],
    }),
    backlogOverflows: new Counter({
      name: "gateway_room_backlog_overflows_total",
      help: "Times a room's events waiting for fan-out were dropped (its streams read the state again)",
      registers: [registry],
    }),
    roomEvents: new Counter({ name: "gateway_room_events_total", help: "Room events received from Redis", registers: [registry] }),
    callsRefused: new Counter({ name: "gateway_calls_refused_total", help: "Unary calls refused because too many were in progress", registers: [registry] }),
    roomsSubscribed: new Gauge({ name: "gateway_rooms_subscribed", help: "Rooms whose channel this gateway subscribes to", registers: [registry] }),
  };
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;
