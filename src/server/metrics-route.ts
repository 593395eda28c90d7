import type { Context, Middleware, Next } from 'koa';
import type { Registry } from 'prom-client';
import { MemberCardError } from '../errors.js';

/** 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6 (a dual-stack listener reports ::ffff:127.0.0.1). */
const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3})$/;

/**
 * True when the request came in on the loopback interface from this machine, and not through a
 * proxy on it. The socket's address, never X-Forwarded-For (any client can write that); and a
 * request carrying a forwarding header is treated as the proxied one it is, since a reverse proxy
 * on the same machine connects from loopback on behalf of the whole internet.
 */
export function fromLoopback(ctx: Context): boolean {
  const address = ctx.req.socket.remoteAddress ?? '';
  if (!LOOPBACK.test(address)) return false;
  const headers = ctx.req.headers;
  return headers['x-forwarded-for'] === undefined && headers.forwarded === undefined;
}

/**
 * GET /metrics: the registry in Prometheus' text format, for a scraper on this machine, or one that
 * sends the admin token (serve's MEMBERCARD_ADMIN_TOKEN, as X-Admin-Token or Authorization: Bearer).
 * Anyone else gets 403 FORBIDDEN: the series tell how busy the merchant is, nothing for the public.
 */
export function metricsRoute(registry: Registry, authorized: ((ctx: Context) => boolean) | undefined): Middleware {
  return async function metrics(ctx: Context, next: Next): Promise<void> {
    if (ctx.path !== '/metrics') {
      await next();
      return;
    }
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') throw new MemberCardError('METHOD_NOT_ALLOWED', 'Use GET.');
    if (!fromLoopback(ctx) && !authorized?.(ctx)) {
      throw new MemberCardError(
        'FORBIDDEN',
        authorized
          ? 'GET /metrics answers on the loopback interface, or with the admin token.'
          : 'GET /metrics answers on the loopback interface only (MEMBERCARD_ADMIN_TOKEN opens it to others).',
      );
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.type = registry.contentType;
    ctx.body = await registry.metrics();
  };
}
