import * as net from "node:net";

/** A plain TCP connection to a server's port (for what a protocol client would never do). */
export function connectRaw(url: string): Promise<net.Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => resolve(socket));
    socket.once("error", reject);
  });
}

/** Resolves when the connection closes (the server closed it). */
export const closedByServer = (socket: net.Socket) => new Promise<void>((resolve) => socket.once("close", () => resolve()));
