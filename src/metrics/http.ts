import type { Context, Next } from 'koa';
import type { Metrics } from './metrics.js';

/**
 * Marks a request our router answered (so allowedMethods does not count it again as unmatched): a
 * property of the context, not a WeakSet, which would cost the garbage collector on every request.
 */
const COUNTED = Symbol('membercard.counted');
type Marked = Context & { [COUNTED]?: true };

/**
 * Router middleware: every request a route of ours answered, by the route's template as declared
 * (`/admin/cards/:code/...`, the prefix left out, so dashboards read the same for every host),
 * never the URL, which carries codes and ids.
 */
export function countRequests(metrics: Metrics, prefix: string) {
  return async function countRequest(ctx: Context, next: Next): Promise<void> {
    const started = performance.now();
    (ctx as Marked)[COUNTED] = true;
    try {
      await next();
    } finally {
      metrics.http(ctx.method, routeOf(ctx, prefix), ctx.status, (performance.now() - started) / 1000);
    }
  };
}

/** The matched route's template without our prefix ('/' for the prefix itself). */
function routeOf(ctx: Context, prefix: string): string {
  const template = (ctx as Context & { _matchedRoute?: unknown })._matchedRoute;
  if (typeof template !== 'string') return 'unmatched';
  const route = prefix && template.startsWith(prefix) ? template.slice(prefix.length) : template;
  return route === '' ? '/' : route;
}

/** A path under our prefix that no route of ours answered (404, 405, 501): one series for all, untimed. */
export function countUnmatched(metrics: Metrics, ctx: Context): void {
  const refused = ctx.status === 404 || ctx.status === 405 || ctx.status === 501;
  if (refused && (ctx as Marked)[COUNTED] !== true) metrics.http(ctx.method, 'unmatched', ctx.status);
}
