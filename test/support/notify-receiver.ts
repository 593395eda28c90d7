// A merchant's notify endpoint for tests: records every POST (headers and raw body) and answers
// with the next queued status (204 once the queue is empty).
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Delivery {
  headers: IncomingHttpHeaders;
  body: string;
}

export class NotifyReceiver {
  readonly received: Delivery[] = [];
  statuses: number[] = [];
  readonly #server: Server;

  constructor() {
    this.#server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => {
        body += chunk;
      });
      req.on('end', () => {
        this.received.push({ headers: req.headers, body });
        res.writeHead(this.statuses.shift() ?? 204).end();
      });
    });
  }

  /** Listens on a free loopback port; resolves with the notify URL. */
  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/notify`;
  }

  /** The headers as a plain lower-case record of strings. */
  static headersOf(d: Delivery): Record<string, string | undefined> {
    return Object.fromEntries(Object.entries(d.headers).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v]));
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
