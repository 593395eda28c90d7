import { createHash, randomBytes } from 'node:crypto';
import Router from '@koa/router';
import type { Context, Middleware, Next } from 'koa';
import { errorHandler, MemberCardError } from '../errors.js';
import { errorName } from '../log.js';
import { jsonBody } from '../routes/body.js';
import { storeForRole } from '../store/create-store.js';
import { ReadCache } from '../cache/read-cache.js';
import type { LoginStore, Session } from '../store/types.js';
import { jscode2session } from './jscode2session.js';
import { loginLimits } from './limits.js';
import { resolveLoginOptions, type WechatLoginOptions } from './options.js';

export type { WechatLoginOptions } from './options.js';

export interface WechatLogin {
  /** POST /login {code} → {token, expires_in}; POST /logout. */
  routes(): ReturnType<Router['routes']>;
  allowedMethods(): ReturnType<Router['allowedMethods']>;
  /** Reads `Authorization: Bearer <token>` and sets ctx.state.user = {openid, unionid?}. */
  middleware(): Middleware;
  readonly router: Router;
  readonly store: LoginStore;
  close(): Promise<void>;
}

/** Tokens are stored only as a SHA-256 hash: a leaked store holds no usable session. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

const TOKEN = /^[A-Za-z0-9_-]{43}$/;

/**
 * A login kit for hosts with no session of their own: wx.login's code → jscode2session →
 * an opaque bearer token kept (hashed, with a TTL) in the store.
 */
export function wechatLogin(options: WechatLoginOptions): WechatLogin {
  const o = resolveLoginOptions(options);
  const store = storeForRole(o.store, 'login', { log: o.log });
  const ownsStore = store !== o.store;
  // init() is idempotent and retries after a failure (see memberCard()); a host's session store
  // may have none.
  const storeReady = async (): Promise<LoginStore> => {
    await store.init?.();
    return store;
  };

  // Every request of a logged-in user reads its session: keep recent ones briefly, so a page's
  // burst of requests costs one store read, not one each.
  const sessions =
    o.sessionCacheTtlMs > 0 ? new ReadCache<Session | undefined>({ ttl: o.sessionCacheTtlMs, max: 10_000 }) : undefined;
  // Kept by token, so a hit costs no hash; the store only ever sees the hash.
  const readSession = async (token: string): Promise<Session | undefined> => {
    const load = async () => (await storeReady()).getSession(hashToken(token));
    const session = sessions
      ? (sessions.peek(token) ?? (await sessions.get(token, load, (found) => found !== undefined)))
      : await load();
    return session && session.expiresAt > Date.now() ? session : undefined;
  };

  const limits = loginLimits(o, storeReady);

  const router = new Router(o.prefix ? { prefix: o.prefix } : {});
  router.use(
    errorHandler((err, ctx) =>
      o.log('error', 'unexpected error', { error: errorName(err), route: String(ctx.routerPath ?? '') }),
    ),
  );

  router.post('/login', jsonBody('4kb'), async (ctx) => {
    const body = ctx.request.body as { code?: unknown } | undefined;
    const code = body?.code;
    if (typeof code !== 'string' || !/^[\x21-\x7e]{1,128}$/.test(code)) {
      throw new MemberCardError('INVALID_REQUEST', '"code" must be the code from wx.login.', {
        details: [{ field: 'code', issue: 'required string' }],
      });
    }
    // Before WeChat is asked: a flood of bogus codes must not spend the mini-program's quota.
    await limits.check(ctx);
    const user = await jscode2session(code, {
      appid: o.appid,
      secret: o.secret,
      baseURL: o.baseURL,
      timeout: o.timeoutMs,
      log: o.log,
    });
    const token = randomBytes(32).toString('base64url');
    await (await storeReady()).putSession(hashToken(token), { ...user, expiresAt: Date.now() + o.sessionTtlMs });
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { token, expires_in: Math.floor(o.sessionTtlMs / 1000) };
  });

  router.post('/logout', async (ctx) => {
    const token = bearer(ctx);
    if (token) {
      await (await storeReady()).deleteSession(hashToken(token));
      // After the delete: a read in flight until now is dropped, not kept.
      sessions?.invalidate(token);
    }
    ctx.status = 204;
  });

  return {
    routes: () => router.routes(),
    allowedMethods: () => router.allowedMethods(),
    middleware: () =>
      async function wechatLoginSession(ctx: Context, next: Next) {
        const token = bearer(ctx);
        if (token) {
          const session = await readSession(token);
          if (session)
            ctx.state.user = session.unionid
              ? { openid: session.openid, unionid: session.unionid }
              : { openid: session.openid };
        }
        await next();
      },
    router,
    store,
    close: async () => {
      if (ownsStore) await store.close?.();
    },
  };
}

function bearer(ctx: Context): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(ctx.get('Authorization'));
  const token = match?.[1];
  return token && TOKEN.test(token) ? token : undefined;
}
