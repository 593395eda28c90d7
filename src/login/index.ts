import { createHash, randomBytes } from 'node:crypto';
import Router from '@koa/router';
import Joi from 'joi';
import type { Context, Middleware, Next } from 'koa';
import { errorHandler, MemberCardError } from '../errors.js';
import { defaultLog, errorName, type Log } from '../log.js';
import { storeOption, validateOptions } from '../options.js';
import { jsonBody } from '../routes/body.js';
import { storeForRole } from '../store/create-store.js';
import type { StoreSpec } from '../store/options.js';
import { ReadCache } from '../cache/read-cache.js';
import type { LoginStore, Session } from '../store/types.js';
import { jscode2session } from './jscode2session.js';

export interface WechatLoginOptions {
  /** The mini-program's AppID. */
  appid: string;
  /** The mini-program's AppSecret. */
  secret: string;
  /**
   * A store URL, engine options, or a store object with the session methods (share the member-card
   * one). Default sqlite:./data/membercard.db
   */
  store?: StoreSpec<LoginStore>;
  /** Default https://api.weixin.qq.com/ */
  baseURL?: string;
  /** Session lifetime, seconds. Default 7 days. */
  sessionTtl?: number;
  /** jscode2session timeout, ms. Default 5000. */
  timeout?: number;
  /**
   * How long this instance may reuse a session it read from the store, ms. Default 1000; 0 reads
   * the store on every request. A logout on this instance takes effect at once; one on another
   * instance within this time.
   */
  sessionCacheTtl?: number;
  /** Router prefix for /login and /logout. Default '' */
  prefix?: string;
  log?: Log;
}

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

const schema = Joi.object({
  appid: Joi.string()
    .pattern(/^[A-Za-z0-9_-]+$/)
    .max(32)
    .required(),
  secret: Joi.string().min(1).max(128).required(),
  store: storeOption,
  baseURL: Joi.string()
    .uri({ scheme: ['http', 'https'] })
    .default('https://api.weixin.qq.com/'),
  sessionTtl: Joi.number()
    .integer()
    .min(60)
    .max(365 * 24 * 3600)
    .default(7 * 24 * 3600),
  timeout: Joi.number().integer().min(1).max(60_000).default(5000),
  sessionCacheTtl: Joi.number().integer().min(0).max(60_000).default(1000),
  prefix: Joi.string()
    .pattern(/^(\/[A-Za-z0-9/_-]*)?$/)
    .default(''),
  log: Joi.function().default(() => defaultLog),
});

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
  const o = validateOptions<Required<Omit<WechatLoginOptions, 'store'>> & { store: StoreSpec<LoginStore> }>(
    'wechatLogin()',
    schema,
    options,
  );
  const baseURL = o.baseURL.endsWith('/') ? o.baseURL : `${o.baseURL}/`;
  const store = storeForRole(o.store, 'login');
  const ownsStore = store !== o.store;
  // init() is idempotent and retries after a failure (see memberCard()); a host's session store may have none.
  const storeReady = async (): Promise<LoginStore> => {
    await store.init?.();
    return store;
  };

  // Every request of a logged-in user reads its session: keep recent ones briefly, so a page's
  // burst of requests costs one store read, not one each.
  const sessions =
    o.sessionCacheTtl > 0 ? new ReadCache<Session | undefined>({ ttl: o.sessionCacheTtl, max: 10_000 }) : undefined;
  // Kept by token, so a hit costs no hash; the store only ever sees the hash.
  const readSession = async (token: string): Promise<Session | undefined> => {
    const load = async () => (await storeReady()).getSession(hashToken(token));
    const session = sessions
      ? (sessions.peek(token) ?? (await sessions.get(token, load, (found) => found !== undefined)))
      : await load();
    return session && session.expiresAt > Date.now() ? session : undefined;
  };

  const router = new Router(o.prefix ? { prefix: o.prefix } : {});
  router.use(
    errorHandler((err, ctx) =>
      o.log('error', 'unexpected error', { error: errorName(err), route: ctx.routerPath ?? '' }),
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
    const user = await jscode2session(code, {
      appid: o.appid,
      secret: o.secret,
      baseURL,
      timeout: o.timeout,
      log: o.log,
    });
    const token = randomBytes(32).toString('base64url');
    await (await storeReady()).putSession(hashToken(token), { ...user, expiresAt: Date.now() + o.sessionTtl * 1000 });
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { token, expires_in: o.sessionTtl };
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
        return next();
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
