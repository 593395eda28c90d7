import Router from '@koa/router';
import type { Middleware } from 'koa';
import { createBindings, type Bindings } from './bindings.js';
import { CardCache } from './cache/card-cache.js';
import { TemplateCache } from './cache/template-cache.js';
import type { CacheEvents } from './cache/events.js';
import { Coherence } from './cache/coherence.js';
import { upstreamBudget } from './cache/budget.js';
import { rateLimiter } from './rate-limit.js';
import { createMemberCodes, type MemberCodes } from './member-codes/member-codes.js';
import { deriveKey } from './member-codes/secret.js';
import { mountHistory } from './routes/history.js';
import { mountMemberCode } from './routes/member-code.js';
import { errorBody, errorHandler, MemberCardError, OptionsError } from './errors.js';
import { errorName } from './log.js';
import { createMetrics } from './metrics/metrics.js';
import { countRequests, countUnmatched } from './metrics/http.js';
import { countedOperations } from './metrics/operations.js';
import type { Registry } from 'prom-client';
import { resolveOptions, type MemberCardOptions, type ResolvedMemberCardOptions } from './options.js';
import { mountMyCard } from './routes/my-card.js';
import { routesWithShortcut } from './routes/shortcut.js';
import { mountNotify } from './routes/notify.js';
import { createOperations, type Operations } from './operations/index.js';
import { mountAdmin } from './routes/admin.js';
import { mountOpenCard } from './routes/open-card.js';
import { mountPayNotify } from './routes/pay-notify.js';
import { mountTopup } from './routes/topup.js';
import type { Runtime } from './runtime.js';
import { storeForRole } from './store/create-store.js';
import { keepsTopups } from './store/roles.js';
import type { CardStore } from './store/types.js';
import { WechatpayClient } from './wechatpay/client.js';
import { createTopups, type Topups } from './topup/topups.js';
import { NotificationVerifier } from './wechatpay/notification.js';

export interface MemberCard {
  /** The routes, for `app.use(cards.routes())`. */
  routes(): ReturnType<Router['routes']>;
  /** 405 / 501 answers (as JSON) for our paths, for `app.use(cards.allowedMethods())`. */
  allowedMethods(): Middleware;
  /** The @koa/router instance, to nest it in a host router. */
  readonly router: Router;
  /** The store in use (initialised on first request, or by ready()). */
  readonly store: CardStore;
  /**
   * Merchant operations: balance, points, level and membership-number changes, exact under
   * retries (docs/operations.md).
   */
  readonly operations: Operations;
  /**
   * Bindings a merchant makes by hand (`cards.bindings.bind({ code, user, actor })`), for members
   * whose notification was lost for longer than WeChat Pay retries it (docs/operations.md).
   */
  readonly bindings: Bindings;
  /**
   * Top-ups paid with WeChat Pay (README, Top-ups): the offers, an order by id, and `reconcile()`, the
   * pass that settles orders WeChat Pay did not tell us about. Undefined unless the `topup` option
   * offers something.
   */
  readonly topups: Topups | undefined;
  /**
   * Member codes for the till: `issue(user)` a one-time code, `verify(code)` it once, from the
   * merchant's own code (docs/operations.md).
   */
  readonly memberCodes: MemberCodes;
  /** The prom-client registry our `membercard_…` series are in: the `metrics` option, or a private one. */
  readonly metrics: Registry;
  /** Our typed WeChat Pay client, for server-side calls with the same credentials. */
  readonly client: WechatpayClient;
  /**
   * What the card cache does, for metrics: `stats()` counts hits, misses, stale-while-revalidate and
   * stale answers, budget refusals; `on(listener)` is called per event (README, Caching).
   */
  readonly cache: Pick<CacheEvents, 'stats' | 'on'> & {
    /** Whether the cache bus (Redis, PostgreSQL) is live now, so cards keep `cache.coherentTtlMs`. */
    readonly coherent: boolean;
  };
  /** The options in use, defaults filled in; no key material. */
  readonly options: Readonly<ResolvedMemberCardOptions>;
  /** Initialises the store now instead of on the first request. */
  ready(): Promise<void>;
  /** Closes the store when we made it (from a URL or engine options); a store object passed in is the host's. */
  close(): Promise<void>;
}

/**
 * WeChat Pay member cards for a Koa app: the caller's own card, self-service edits, open-card
 * parameters and WeChat Pay's card notifications. Options are validated here, once.
 */
export function memberCard(options: MemberCardOptions): MemberCard {
  const { options: resolved, keys } = resolveOptions(options);
  const { log } = resolved;
  const metrics = createMetrics(resolved.metrics);
  const store = storeForRole(resolved.store, 'card', { log });
  // A store object passed in belongs to the host (it may share it): only close our own.
  const ownsStore = store !== resolved.store;
  const { mchid, serial, baseURL, timeoutMs, retries } = resolved.wechatpay;
  // The keys go to these two only: resolved (cards.options) holds none.
  const { privateKey, certs, requestSerial, apiv3Key } = keys;
  const cache = new CardCache({
    ttl: resolved.cache.ttlMs,
    max: resolved.cache.max,
    staleWhileRevalidate: resolved.cache.staleWhileRevalidateMs,
    maxStale: resolved.cache.maxStaleMs,
    coherentTtl: resolved.cache.coherentTtlMs,
    counters: metrics,
  });
  // The card's cache events as metrics: answers past their freshness (SWR, stale-if-error) are stale.
  const cardHit = metrics.cacheHit('card');
  const cardMiss = metrics.cacheMiss('card');
  cache.events.on((event) => {
    if (event === 'hit') cardHit();
    else if (event === 'miss') cardMiss();
    else if (event === 'revalidate' || event === 'stale') metrics.cacheStale('card');
    else if (event === 'budget_refused') metrics.rateLimited('upstream_budget');
  });
  // Card and template reads take from a bucket all instances share (cache/budget.ts); off at 0.
  const budget = upstreamBudget(
    rateLimiter(async () => {
      await store.init();
      return store;
    }),
    { mchid, ...resolved.upstream },
    cache.events,
  );
  const client = new WechatpayClient({
    mchid,
    serial,
    privateKey,
    certs,
    requestSerial,
    baseURL,
    timeout: timeoutMs,
    retries,
    log,
    ...(budget ? { budget } : {}),
    onAttempt: (api, outcome, seconds) => metrics.upstream(api, outcome, seconds),
  });
  const verifier = new NotificationVerifier({ certs, apiv3Key });

  /** Whether the store was opened for a request or by ready(): the background sweep waits for that. */
  let storeInUse = false;
  // The cache bus of a Redis or PostgreSQL store: subscribed once the store is up (cache/coherence.ts).
  const coherence = new Coherence(cache, log);
  const rt: Runtime = {
    options: resolved,
    // Store.init() is idempotent and forgets a failed attempt, so calling it per use is how a
    // store that was down at start-up comes back by itself.
    store: async () => {
      await store.init();
      storeInUse = true;
      coherence.attach(store);
      return store;
    },
    client,
    verifier,
    cache,
    log,
    metrics,
    templates: new TemplateCache(resolved.brand.templateTtlMs),
    secrets: { memberCode: deriveKey(apiv3Key, 'member-code'), cursor: deriveKey(apiv3Key, 'history-cursor') },
  };
  // Merchant operations (src/operations/): a changed card is dropped from the read cache.
  rt.onCardChanged = (cardId, code) => rt.cache.invalidate(cardId, code);
  const operations = countedOperations(createOperations(rt, resolved.operations), metrics);
  // Pending changes and due top-ups settle by themselves (src/operations/sweep.ts, issue 18).
  operations.sweeper.start(() => storeInUse);
  const bindings = createBindings(rt);
  const memberCodes = createMemberCodes(rt);

  const router = new Router(resolved.prefix ? { prefix: resolved.prefix } : {});
  // First, so it sees the status errorHandler answers with.
  router.use(countRequests(metrics, resolved.prefix));
  router.use(
    errorHandler((err, ctx) =>
      log('error', 'unexpected error', {
        error: errorName(err),
        method: ctx.method,
        route: String(ctx.routerPath ?? ''),
      }),
    ),
  );
  mountMyCard(router, rt);
  mountOpenCard(router, rt);
  mountNotify(router, rt);
  mountMemberCode(router, rt, memberCodes, resolved.authorizeAdmin);
  mountHistory(router, rt);
  if (resolved.authorizeAdmin) mountAdmin(router, rt, { operations, bindings }, resolved.authorizeAdmin);
  // Top-ups: on when the merchant offers amounts (the options make appid and notifyUrl go with them).
  const { topup } = resolved;
  let topups: Topups | undefined;
  if (topup.amounts !== undefined || topup.min !== undefined) {
    if (!keepsTopups(store)) {
      throw new OptionsError(
        'the store object given cannot keep top-up orders (createTopupOrder, getTopupOrder, updateTopupOrder, ' +
          'listDueTopupOrders)',
        { factory: 'memberCard()', option: 'store' },
      );
    }
    const service = createTopups(rt, operations, topup, privateKey);
    mountTopup(router, rt, service);
    mountPayNotify(router, rt, service);
    operations.sweeper.reconcileTopupsWith(() => service.reconcile());
    topups = {
      offers: () => service.offers(),
      get: (outTradeNo) => service.get(outTradeNo),
      reconcile: (options) => service.reconcile(options),
    };
  }

  const routes = routesWithShortcut(router);
  const allowed = router.allowedMethods();
  const { prefix } = resolved;
  const ours = (path: string): boolean => prefix !== '' && (path === prefix || path.startsWith(`${prefix}/`));
  return {
    routes: () => routes,
    allowedMethods: () =>
      async function memberCardAllowedMethods(ctx, next) {
        await allowed(ctx as Parameters<typeof allowed>[0], next);
        // The router answered 405 / 501 (with Allow) for one of our paths: say it in JSON too.
        if ((ctx.status === 405 || ctx.status === 501) && ctx.body == null && ctx.response.get('Allow')) {
          ctx.body = errorBody(
            new MemberCardError(
              ctx.status === 405 ? 'METHOD_NOT_ALLOWED' : 'NOT_IMPLEMENTED',
              `Allowed: ${ctx.response.get('Allow')}.`,
            ),
          );
        }
        // Nothing answered a path under our prefix (an unknown route): JSON too, as documented.
        if (ctx.status === 404 && ctx.body == null && ours(ctx.path)) {
          ctx.set('Cache-Control', 'no-store');
          ctx.body = errorBody(new MemberCardError('NOT_FOUND', 'No such route.'));
          ctx.status = 404;
        }
        if (ours(ctx.path)) countUnmatched(metrics, ctx);
      },
    router,
    store,
    operations,
    bindings,
    topups,
    memberCodes,
    client,
    cache: {
      stats: () => cache.events.stats(),
      on: (listener) => cache.events.on(listener),
      get coherent() {
        return cache.coherent;
      },
    },
    metrics: metrics.registry,
    options: resolved,
    ready: () => rt.store().then(() => undefined),
    close: async () => {
      await operations.sweeper.stop();
      await coherence.close();
      if (ownsStore) await store.close();
    },
  };
}
