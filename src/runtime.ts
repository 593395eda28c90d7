import type { CardCache } from './cache/card-cache.js';
import type { TemplateCache } from './cache/template-cache.js';
import type { Log } from './log.js';
import type { Metrics } from './metrics/metrics.js';
import type { ResolvedMemberCardOptions } from './options.js';
import type { CardStore } from './store/types.js';
import type { WechatpayClient } from './wechatpay/client.js';
import type { NotificationVerifier } from './wechatpay/notification.js';

/** What every route of one memberCard() shares: built once by the factory, read by the routes. */
export interface Runtime {
  options: ResolvedMemberCardOptions;
  /** The store, initialised on first use (and again after a failed init). */
  store: () => Promise<CardStore>;
  client: WechatpayClient;
  verifier: NotificationVerifier;
  /** Card reads, shared and briefly kept; invalidated by our own changes and by notifications. */
  cache: CardCache;
  log: Log;
  /** The Prometheus series (docs/metrics.md): the host's registry, or a private one. */
  metrics: Metrics;
  /** The card template (the brand's face), kept for minutes. */
  templates: TemplateCache;
  /** Server-side keys derived from the APIv3 key: member-code hashes, history cursors. */
  secrets: { memberCode: Buffer; cursor: Buffer };
  /** Called after a merchant operation changed a card (e.g. so a read cache can drop it). */
  onCardChanged?: (cardId: string, code: string) => void;
}
