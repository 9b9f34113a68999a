import type { Transport } from "@connectrpc/connect";

/** A transport for one connection attempt, and how to close its connection. */
export interface TransportHandle {
  transport: Transport;
  close(): void;
}

/** Makes a fresh transport (each reconnect gets a new connection). */
export type TransportFactory = () => TransportHandle;
