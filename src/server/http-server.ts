import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorName } from '../log.js';
import { parseWhole, type Env } from './config.js';

/** How long a client may take, and how many may be connected, before the server lets them go. */
export interface ConnectionLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxConnections: number;
}

export function connectionLimitsFrom(env: Env): ConnectionLimits {
  const limits = {
    headersTimeoutMs: parseWhole(env, 'HTTP_HEADERS_TIMEOUT_MS', 1),
    requestTimeoutMs: parseWhole(env, 'HTTP_REQUEST_TIMEOUT_MS', 1),
    keepAliveTimeoutMs: parseWhole(env, 'HTTP_KEEP_ALIVE_TIMEOUT_MS', 0),
    maxConnections: parseWhole(env, 'HTTP_MAX_CONNECTIONS', 1),
  };
  // Node refuses a headers timeout longer than the request timeout: say it in our terms.
  return { ...limits, headersTimeoutMs: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) };
}

/**
 * Listens with the limits set, so a client that sends slowly (or not at all) is cut off instead
 * of holding a connection for minutes. Node checks those timeouts only every
 * connectionsCheckingInterval (30 s by default): it is set from the shortest of them.
 */
export async function listen(
  handle: RequestListener,
  port: number,
  host: string,
  limits: ConnectionLimits,
): Promise<Server> {
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      connectionsCheckingInterval: Math.max(100, Math.min(1000, limits.headersTimeoutMs / 2)),
    },
    // Koa's handler answers its own errors; the promise it returns carries nothing more.
    (req, res) => void handle(req, res),
  );
  server.maxConnections = limits.maxConnections;
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      ok();
    });
  }).catch((err: unknown) => {
    throw new Error(
      `cannot listen on ${host}:${port} (${(err as NodeJS.ErrnoException).code ?? errorName(err)}); set PORT`,
    );
  });
  return server;
}

export function addressOf(server: Server): AddressInfo {
  return server.address() as AddressInfo;
}
