import { hkdfSync } from 'node:crypto';

/**
 * A server-side key for one purpose, derived from the merchant's APIv3 key (HKDF-SHA256): every
 * instance of one merchant has the same APIv3 key, so they agree on it with nothing to configure
 * or store, and a leak of one derived key reveals neither the APIv3 key nor the other purposes'.
 * Changing the APIv3 key ends what was keyed with the old one: codes live 60 s, cursors a page.
 */
export function deriveKey(apiv3Key: string, purpose: 'member-code' | 'history-cursor'): Buffer {
  return Buffer.from(hkdfSync('sha256', apiv3Key, 'koa-wechat-membercard', purpose, 32));
}
