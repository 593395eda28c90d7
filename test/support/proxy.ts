// Network faults between a client and a real server: a TCP proxy that can be cut, frozen and
// restored on the same port, and a server that accepts connections and never says a word.
import { once } from 'node:events';
import net from 'node:net';

/**
 * A TCP proxy in front of a real server that a test can cut (every connection dropped, port
 * closed) and restore on the same port: a store outage without stopping the shared server.
 */
export class CuttableProxy {
  #server: net.Server | undefined;
  readonly #sockets = new Set<net.Socket>();
  readonly #pairs = new Set<[net.Socket, net.Socket]>();
  #frozen = false;
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<void> {
    this.#frozen = false;
    const server = net.createServer((client) => {
      if (this.#frozen) {
        // Accepted, never answered.
        this.#sockets.add(client);
        client.on('close', () => this.#sockets.delete(client));
        client.on('error', () => undefined);
        return;
      }
      const upstream = net.connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      const pair: [net.Socket, net.Socket] = [client, upstream];
      this.#pairs.add(pair);
      client.on('close', () => this.#pairs.delete(pair));
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.port = (server.address() as net.AddressInfo).port;
    this.#server = server;
  }

  /** Keeps every connection (and new ones) open but carries no more bytes: a hung server or a silent network. */
  freeze(): void {
    this.#frozen = true;
    for (const [client, upstream] of this.#pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
  }

  async cut(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const s of this.#sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** A server that accepts connections and never says a word: the "hung engine" case. */
export async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
