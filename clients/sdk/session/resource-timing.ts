import { createContextKey, createContextValues, type ContextValues, type Interceptor } from "@connectrpc/connect";
import type { ExchangeTimes } from "../clock/clock-filter.js";
import { entryOf, withNetworkStamps, type FetchCall, type ResourceTimes } from "./network-stamps.js";

/**
 * Pings stamped by the browser's network stack (see network-stamps.ts): an interceptor notes
 * when each ping's fetch() ran, and a PerformanceObserver finds that fetch's Resource Timing
 * entry. An observer, not the page's resource timing buffer: the buffer holds 250 entries by
 * default and then takes no more (a page that pings every second fills it in minutes), and it
 * is the app's to read or clear; observers get every entry regardless.
 */

/** Where noteFetchCall notes a call's fetch(), for a call that asks (its context values hold one). */
interface FetchCallNote {
  call?: FetchCall;
}

const FETCH_CALL = createContextKey<FetchCallNote | undefined>(undefined, { description: "where to note the call's fetch()" });

/** The Performance Timeline API as this uses it (browsers'; typed here, since the SDK is also built without the DOM's types). */
interface EntryList {
  getEntries(): readonly unknown[];
}
interface TimelineObserver {
  observe(options: { type: string }): void;
  takeRecords(): readonly unknown[];
  disconnect(): void;
}
interface TimelineObserverClass {
  new (callback: (list: EntryList) => void): TimelineObserver;
  readonly supportedEntryTypes?: readonly string[];
}
const web = globalThis as { PerformanceObserver?: TimelineObserverClass; location?: { href: string } };

/** How long a ping waits for its entry after its answer, before it keeps the script's stamps (ms). */
const ENTRY_WAIT_MS = 1000;
/** Entries no ping claimed (other fetches of the page) are forgotten after this long (ms). */
const ENTRY_KEEP_MS = 10_000;

/** The URL as the browser names its entry: absolute (connect-web's is, for an absolute baseUrl). */
function absolute(url: string): string {
  try {
    return new URL(url, web.location?.href).href;
  } catch {
    return url;
  }
}

/**
 * Notes when a call's fetch() ran, for calls whose context values ask for it. It must be the
 * transport's last interceptor: it brackets the transport's own request function, whose
 * synchronous start is the fetch() call (connect-web's). Were that to change, no entry would
 * start within the bracket, and pings would keep the script's stamps.
 */
export const noteFetchCall: Interceptor = (next) => (req) => {
  const note = req.contextValues.get(FETCH_CALL);
  if (note === undefined) return next(req);
  const calledFrom = performance.now();
  const answer = next(req);
  note.call = { url: absolute(req.url), calledFrom, calledUntil: performance.now() };
  return answer;
};

/** Network stamps for one ping. */
export interface StampedPing {
  /** The call's context values (they ask noteFetchCall to note its fetch()). */
  contextValues: ContextValues;
  /** The exchange with the network stack's t0 and t3, or as it is when the browser has none for it. */
  stamp(exchange: ExchangeTimes): Promise<ExchangeTimes>;
}

/** Stamps pings of one channel; close() when the channel closes. */
export interface NetworkStamper {
  ping(): StampedPing;
  close(): void;
}

/**
 * A stamper, or undefined where there is no Resource Timing (not a browser, or an old one).
 * Its stamps are on performance.timeOrigin + performance.now(): only for the default LocalClock.
 */
export function createNetworkStamper(): NetworkStamper | undefined {
  const Observer = web.PerformanceObserver;
  if (Observer === undefined || !Observer.supportedEntryTypes?.includes("resource")) return undefined;
  let entries: ResourceTimes[] = [];
  const delivered: Array<() => void> = [];
  // Entries of type "resource" are PerformanceResourceTiming: ResourceTimes and more.
  const take = (list: readonly unknown[]) => {
    const oldest = performance.now() - ENTRY_KEEP_MS;
    entries = [...entries, ...(list as readonly ResourceTimes[])].filter((e) => e.startTime >= oldest);
  };
  const observer = new Observer((list) => {
    take(list.getEntries());
    for (const wake of delivered.splice(0)) wake();
  });
  observer.observe({ type: "resource" });

  /** The call's entry: reported already, or within ENTRY_WAIT_MS (the browser reports it when the answer is complete). */
  async function entryFor(call: FetchCall): Promise<ResourceTimes | undefined> {
    const deadline = performance.now() + ENTRY_WAIT_MS;
    for (;;) {
      take(observer.takeRecords());
      const entry = entryOf(call, entries);
      if (entry !== undefined || performance.now() >= deadline) return entry;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - performance.now());
        delivered.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  return {
    ping() {
      const note: FetchCallNote = {};
      return {
        contextValues: createContextValues().set(FETCH_CALL, note),
        async stamp(exchange) {
          if (note.call === undefined) return exchange;
          const entry = await entryFor(note.call);
          if (entry === undefined) return exchange;
          entries = entries.filter((e) => e !== entry);
          return withNetworkStamps(exchange, entry, performance.timeOrigin) ?? exchange;
        },
      };
    },
    close() {
      observer.disconnect();
      for (const wake of delivered.splice(0)) wake();
    },
  };
}
