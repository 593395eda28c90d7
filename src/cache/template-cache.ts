import type { CardTemplate } from '../wechatpay/types.js';
import { ReadCache } from './read-cache.js';

/**
 * The card template, kept for minutes per instance: it changes when the merchant edits it in
 * 商户平台, and WeChat Pay documents no notification of that, so only time (ttl) drops it.
 */
export class TemplateCache {
  readonly #cache: ReadCache<CardTemplate>;
  readonly #ttl: number;

  constructor(ttl: number) {
    this.#ttl = ttl;
    this.#cache = new ReadCache({ ttl, max: 16 });
  }

  get(cardId: string, load: () => Promise<CardTemplate>): Promise<CardTemplate> {
    return this.#ttl > 0 ? this.#cache.get(cardId, load) : load();
  }

  invalidate(cardId: string): void {
    this.#cache.invalidate(cardId);
  }
}
