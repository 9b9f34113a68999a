/**
 * The groovebox SDK for browsers. Browsers cannot open bidirectional streams, so the device
 * sends its requests as Connect unary calls, samples the clock with unary ClockService/Ping,
 * and follows its room on GatewayService/Subscribe (a server stream over fetch).
 */
import { createConnectTransport } from "@connectrpc/connect-web";
import { GrooveboxClient, type ClientEnvironment, type GrooveboxClientOptions } from "./client.js";
import { noteFetchCall } from "./session/resource-timing.js";
import { openUnaryChannel } from "./session/unary-channel.js";

export * from "./index.js";

export interface BrowserClientOptions extends GrooveboxClientOptions {
  /** The gateway, e.g. https://groovebox.example. */
  baseUrl: string;
}

/**
 * The browser environment: Connect over fetch (binary protobuf), unary calls and Subscribe.
 * Its last interceptor notes when a ping's fetch() ran, so the clock can take the ping's send
 * and receive times from the browser's network stack (see session/network-stamps.ts).
 */
export function browserEnvironment(opts: { baseUrl: string }): ClientEnvironment {
  return {
    transport: () => ({
      transport: createConnectTransport({ baseUrl: opts.baseUrl, useBinaryFormat: true, interceptors: [noteFetchCall] }),
      close: () => {},
    }),
    channel: openUnaryChannel,
  };
}

/** Connects a device: logs in (unless given a token), syncs its clock. */
export function connectGroovebox(opts: BrowserClientOptions): Promise<GrooveboxClient> {
  return GrooveboxClient.connect(browserEnvironment(opts), opts);
}
