import type { ExchangeTimes } from "../clock/clock-filter.js";

/**
 * A ping's device stamps as the network stack took them, instead of the page's script.
 *
 * A page stamps a ping's t0 before it calls fetch() and its t3 when the answer reaches its
 * script. On a busy main thread the answer waits for it (a task that reads the response, a
 * task that resolves the call), often tens of ms on a loaded machine, and only ever later:
 * the delay is one-sided, so it biases the sample's offset, and so many samples alike that
 * the filter's round-trip floor takes them for the link. The browser's Resource Timing entry
 * of the same fetch has the network stack's own stamps, on the page's performance.now()
 * timebase: requestStart (the request starts going out) and responseStart (the answer's first
 * byte came in). They bracket the server's stamps as the script's do, but without the main
 * thread's delays.
 */

/** What a stamp is taken from: the fields of a PerformanceResourceTiming entry (performance.now() timebase, ms). */
export interface ResourceTimes {
  /** The resource's absolute URL. */
  name: string;
  /** When fetch() was called. */
  startTime: number;
  /** When the request started going out; 0 when the server's origin does not let the page see it. */
  requestStart: number;
  /** When the answer's first byte came in; 0 likewise. */
  responseStart: number;
}

/** One fetch() call: its absolute URL and the performance.now() readings just before and after the call. */
export interface FetchCall {
  url: string;
  calledFrom: number;
  calledUntil: number;
}

/**
 * The entry of `call` among `entries`: the one for its URL whose fetch started while the call
 * ran. The page's script runs on one thread, so no other fetch() can start in that interval;
 * two can only look alike when performance.now() is coarse (100 us in pages that are not
 * cross-origin isolated) and both fell into one of its ticks. Undefined then, and when there
 * is none (not yet reported, or the transport did not call fetch() within the call).
 */
export function entryOf<E extends ResourceTimes>(call: FetchCall, entries: readonly E[]): E | undefined {
  const matches = entries.filter((e) => e.name === call.url && e.startTime >= call.calledFrom && e.startTime <= call.calledUntil);
  return matches.length === 1 ? matches[0] : undefined;
}

/**
 * The exchange with its device stamps from `entry` (`timeOrigin` + its times: the performance
 * clock's reading), or undefined when the entry cannot give them: its stamps are 0 (another
 * origin that sent no Timing-Allow-Origin) or not within the script's own t0 and t3, as they
 * must be (the network stack sends after fetch() is called and receives before the script
 * reads the answer).
 */
export function withNetworkStamps(exchange: ExchangeTimes, entry: ResourceTimes, timeOrigin: number): ExchangeTimes | undefined {
  if (!(entry.requestStart > 0) || entry.responseStart < entry.requestStart) return undefined;
  const t0 = timeOrigin + entry.requestStart;
  const t3 = timeOrigin + entry.responseStart;
  if (t0 < exchange.t0 || t3 > exchange.t3) return undefined;
  return { ...exchange, t0, t3 };
}
