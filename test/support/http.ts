// One HTTP client for tests: a request with an optional bearer token and JSON body, and the
// answer with its status, headers, text, JSON body (when it is JSON) and how long it took; and a
// test server on a free loopback port.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Reply {
  status: number;
  headers: Headers;
  /** The parsed JSON body; undefined when the body is empty or not JSON. */
  body: any;
  text: string;
  ms: number;
}

export interface CallOptions {
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Sent as JSON (content-type application/json unless `headers` says otherwise). */
  body?: unknown;
  /** Sent as it is, instead of `body`. */
  raw?: string;
  headers?: Record<string, string>;
  /** Aborts the request after this long; default 15 s, so a hung server fails the test, not the run. */
  timeoutMs?: number;
}

export async function call(method: string, url: string | URL, options: CallOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | null = null;
  if (options.raw !== undefined) body = options.raw;
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const started = Date.now();
  const response = await fetch(url, {
    method,
    headers,
    body,
    signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: parseJson(text), text, ms: Date.now() - started };
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export interface Listening {
  /** http://127.0.0.1:<port>, without a trailing slash. */
  url: string;
  server: Server;
  /** Closes the server, dropping keep-alive connections rather than waiting for them. */
  close(): Promise<void>;
}

/** Serves `handler` (a Koa app's callback(), say, which answers a promise) on a free loopback port. */
export async function listen(handler: (req: IncomingMessage, res: ServerResponse) => unknown): Promise<Listening> {
  const server = createServer((req, res) => void handler(req, res));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
