import type { Context, Middleware, Next } from 'koa';
import { MemberCardError, OptionsError } from '../errors.js';
import type { StoreLifecycle } from '../store/types.js';

/**
 * GET /healthz: the process is alive (200 as long as it answers at all), for a supervisor that
 * restarts dead processes. GET /readyz: this instance can serve (200), or why not (503), for a load
 * balancer that sends traffic only to ready instances. A store outage makes an instance unready,
 * never "dead": restarting it would not bring the store back.
 */
export function probes(store: StoreLifecycle): Middleware {
  return async function healthProbes(ctx: Context, next: Next): Promise<void> {
    if (ctx.path !== '/healthz' && ctx.path !== '/readyz') {
      await next();
      return;
    }
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') throw new MemberCardError('METHOD_NOT_ALLOWED', 'Use GET.');
    ctx.set('Cache-Control', 'no-store');
    if (ctx.path === '/healthz') {
      ctx.body = { status: 'ok' };
      return;
    }
    try {
      await store.ping();
      ctx.body = { status: 'ready' };
    } catch {
      ctx.status = 503;
      ctx.body = { status: 'unavailable', code: 'STORE_UNAVAILABLE', reason: 'the store does not answer' };
    }
  };
}

/**
 * Opens the store at start. A server store (PostgreSQL, Redis) that is down does not stop serve: it
 * starts unready (GET /readyz 503) and the store is opened again on each use until it answers. An
 * embedded SQLite file that cannot be opened is a mistake in MEMBERCARD_STORE (a folder that cannot
 * be created, a file that is not a database): that stops serve at once, saying so.
 */
export async function openStore(store: StoreLifecycle, url: string): Promise<void> {
  try {
    await store.init();
  } catch (err) {
    const sqlite = /^\s*sqlite:(.*)$/i.exec(url);
    if (sqlite || !(err instanceof MemberCardError && err.code === 'STORE_UNAVAILABLE')) {
      const what = sqlite ? `the SQLite file ${sqlite[1]?.replace(/^\/\//, '')}` : 'the store';
      const why = err instanceof OptionsError ? err.problem : `cannot open or create ${what} (${codeOf(err)})`;
      throw new OptionsError(`MEMBERCARD_STORE: ${why}`);
    }
    // Told by the store itself ("store unavailable"), once; serve goes on unready.
  }
}

/** Why a store could not be opened, without secrets: the code of the underlying error. */
function codeOf(err: unknown): string {
  const cause = err instanceof MemberCardError ? err.cause : err;
  const code = (cause as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'unknown error';
}
