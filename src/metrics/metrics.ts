import { Registry } from 'prom-client';
import { histogram, tallied, type Tally } from './registry.js';

/**
 * The series one memberCard() feeds (docs/metrics.md), and the few functions the rest of the code
 * calls to feed them. Every label value comes from a short fixed list or a route template: never
 * a card code, an openid, a token or a raw URL, so the number of series stays bounded.
 */

/** The read caches of cache/card-cache.ts. */
export type CacheName = 'card' | 'code';

/** How one upstream attempt ended (upstream.ts outcomeOf). */
export type UpstreamOutcome =
  'ok' | '400' | '401' | '403' | '404' | '429' | '4xx' | '5xx' | 'timeout' | 'network' | 'bad_signature' | 'error';

/** What became of a notification: applied, a redelivery, refused by verification, or failed (5xx, redelivered). */
export type NotificationOutcome = 'processed' | 'duplicate' | 'rejected' | 'error';

/** The rate limits (src/rate-limit.ts and its callers): the member-card routes' and the login kit's. */
export type LimitName = 'open' | 'admin_failures' | 'member_code' | 'login_client' | 'login_total' | 'upstream_budget';

export interface Metrics {
  /** The registry the series are in: the host's, or a private one. */
  readonly registry: Registry;
  /** One answered request of our router: method, route template (never the URL), status, seconds (if timed). */
  http(method: string, route: string, status: number, seconds?: number): void;
  /** One attempt at WeChat Pay: its API template, how it ended, seconds. */
  upstream(api: string, outcome: UpstreamOutcome, seconds: number): void;
  /** Counters to keep and call on the read path: a fresh entry found, or not. */
  cacheHit(cache: CacheName): () => void;
  cacheMiss(cache: CacheName): () => void;
  /**
   * One answer given from a kept entry past its freshness (stale-while-revalidate or stale-if-error):
   * member-card.ts feeds it from the card cache's events.
   */
  cacheStale(cache: CacheName): void;
  /** One notification (card or payment), by WeChat Pay's event type. */
  notification(eventType: string, outcome: NotificationOutcome): void;
  /** One call of cards.operations (or the admin routes over it): its kind and outcome. */
  operation(kind: string, outcome: string): void;
  /** One request refused by a rate limit (429). */
  rateLimited(limit: LimitName): void;
}

const SECONDS_HTTP = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const SECONDS_UPSTREAM = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Event types WeChat Pay documents for what we receive; anything else is counted as "other". */
const EVENT_TYPES = new Set([
  'MEMBERCARD.ACCEPT_CARD',
  'MEMBERCARD.ACTIVATE_CARD',
  'MEMBERCARD.USERCARD_MANAGE',
  'TRANSACTION.SUCCESS',
  // A notification that failed verification: its event type cannot be believed.
  'unverified',
]);

/** Label values a caller could get wrong are cut down to this, so no value can grow the series. */
const LABEL = /^[A-Za-z0-9_.:/{} -]{1,120}$/;
const bounded = (value: string): string => (LABEL.test(value) ? value : 'other');

/** The series in `registry` (the host's), or in a private one nothing reads but cards.metrics. */
export function createMetrics(registry: Registry = new Registry()): Metrics {
  const requests = tallied(
    registry,
    'membercard_http_requests_total',
    'Requests answered by the member-card routes, by route template and status',
    ['method', 'route', 'status'],
  );
  const requestSeconds = histogram(
    registry,
    'membercard_http_request_duration_seconds',
    'Time to answer a member-card route, seconds',
    ['method', 'route'],
    SECONDS_HTTP,
  );
  const upstreamCalls = tallied(
    registry,
    'membercard_upstream_requests_total',
    'Attempts at WeChat Pay (each retry counts), by API template and outcome',
    ['api', 'outcome'],
  );
  const upstreamSeconds = histogram(
    registry,
    'membercard_upstream_request_duration_seconds',
    'Time of one attempt at WeChat Pay, seconds, by API template',
    ['api'],
    SECONDS_UPSTREAM,
  );
  const lookups = tallied(
    registry,
    'membercard_cache_lookups_total',
    'Read-cache lookups, by cache and result (hit: a fresh entry answered; miss: loaded)',
    ['cache', 'result'],
  );
  const stale = tallied(
    registry,
    'membercard_cache_stale_answers_total',
    'Answers given from a cache entry past its freshness (stale-while-revalidate, stale-if-error)',
    ['cache'],
  );
  const notifications = tallied(
    registry,
    'membercard_notifications_total',
    'WeChat Pay notifications received, by event type and outcome',
    ['type', 'outcome'],
  );
  const operations = tallied(
    registry,
    'membercard_operations_total',
    'Merchant operations (balance, points, level, membership number), by kind and outcome',
    ['kind', 'outcome'],
  );
  const refusals = rateLimitTally(registry);

  // Label objects made once per combination: the read path allocates nothing for them.
  const httpLabels = new Map<string, { count: () => void; observe: (seconds: number) => void }>();

  return {
    registry,
    http(method, route, status, seconds) {
      const key = `${method} ${route} ${status}`;
      let entry = httpLabels.get(key);
      if (!entry) {
        const labels = { method: bounded(method), route: bounded(route) };
        entry = { count: requests.bind({ ...labels, status: String(status) }), observe: requestSeconds.bind(labels) };
        httpLabels.set(key, entry);
      }
      entry.count();
      if (seconds !== undefined) entry.observe(seconds);
    },
    upstream(api, outcome, seconds) {
      upstreamCalls.add({ api: bounded(api), outcome });
      upstreamSeconds.observe({ api: bounded(api) }, seconds);
    },
    cacheHit: (cache) => lookups.bind({ cache, result: 'hit' }),
    cacheMiss: (cache) => lookups.bind({ cache, result: 'miss' }),
    cacheStale: (cache) => stale.add({ cache }),
    notification(eventType, outcome) {
      notifications.add({ type: EVENT_TYPES.has(eventType) ? eventType : 'other', outcome });
    },
    operation: (kind, outcome) => operations.add({ kind: bounded(kind), outcome: bounded(outcome) }),
    rateLimited: (limit) => refusals.add({ limit }),
  };
}

/** The refusals series alone, for wechatLogin(): the same series as memberCard()'s on one registry. */
export function rateLimitTally(registry: Registry): Tally<'limit'> {
  return tallied(
    registry,
    'membercard_rate_limited_total',
    'Requests refused by a rate limit (429), by limit; upstream_budget: a WeChat Pay read not made (stale, else 429)',
    ['limit'],
  );
}
