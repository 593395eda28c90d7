import { once } from 'node:events';
import net from 'node:net';

export const POSTGRES_URL = process.env['MEMBERCARD_TEST_POSTGRES'] || 'postgres://root@127.0.0.1:5432/test';
export const REDIS_URL = process.env['MEMBERCARD_TEST_REDIS'] || 'redis://127.0.0.1:6379';
export const REQUIRE_SERVICES = process.env['MEMBERCARD_TEST_REQUIRE_SERVICES'] === '1';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves with undefined when a PostgreSQL server answers within 1 s, else with the reason. */
export async function probePostgres(url: string): Promise<string | undefined> {
  const pg = (await import('pg')).default;
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (err) {
    return `PostgreSQL not reachable at ${url} (${(err as Error).message}): suite skipped`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Resolves with undefined when a Redis server answers within 1 s, else with the reason. */
export async function probeRedis(url: string): Promise<string | undefined> {
  const { Redis } = await import('ioredis');
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1000,
    commandTimeout: 1000,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
  });
  let first: Error | undefined;
  client.on('error', (err: Error) => (first ??= err));
  try {
    await client.connect();
    await client.ping();
    return undefined;
  } catch (err) {
    return `Redis not reachable at ${url} (${(first ?? (err as Error)).message}): suite skipped`;
  } finally {
    client.disconnect();
  }
}

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
