import { connect, createServer, type AddressInfo, type Socket } from "node:net";

/** A TCP proxy in front of one server at a time, for a client that must not know the server changed. */
export interface SwitchProxy {
  /** The proxy's address (http://127.0.0.1:port): give it to the client. */
  url: string;
  /** From now on connections go to `target` (an http:// URL); those open now are cut. */
  switchTo(target: string): void;
  close(): Promise<void>;
}

/** Starts a proxy to `target` (an http:// URL) on a free port. */
export async function startSwitchProxy(target: string): Promise<SwitchProxy> {
  let to = new URL(target);
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(to.port), to.hostname);
    const cut = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", cut).on("close", cut);
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    switchTo(next) {
      to = new URL(next);
      for (const s of sockets) s.destroy();
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
