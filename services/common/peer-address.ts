import { createContextKey } from "@connectrpc/connect";

/** The address of the connection a call came in on (the TCP peer; see client-address.ts for proxies). */
export const peerAddressKey = createContextKey<string>("", { description: "peer address" });
