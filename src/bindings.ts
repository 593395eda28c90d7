import { MemberCardError } from './errors.js';
import { isOpaqueId, newRequestNo } from './ids.js';
import * as v from './operations/validate.js';
import type { Runtime } from './runtime.js';
import type { Binding, UserIdentity } from './store/types.js';

// A merchant binds a user to a card code by hand. WeChat Pay retries a member-card notification
// 11 times 60 s apart (about 10 minutes, the member-card notice pages); a back end down for longer
// never hears of the card, and its holder finds nothing. After its own check (a receipt, the
// phone number on the card), the merchant binds the code here; the binding is audited.

export interface BindInput {
  /** The card code, as the merchant's records or the card itself show it. */
  code: string;
  /** The mini-program user (as the host's session knows them) the code belongs to. */
  user: UserIdentity;
  /** Who binds it: kept in the audit line; default "admin". ≤ 64 characters. */
  actor?: string;
}

export interface BindResult {
  binding: Binding;
  /** False when the code was already bound to this user as given (nothing written). */
  changed: boolean;
}

export interface Bindings {
  /**
   * Binds `user` to `code` after reading the card from WeChat Pay (it must exist and not be
   * DELETE): 404 CARD_NOT_FOUND, 409 CARD_NOT_EDITABLE for a deleted card, 409 OPERATION_CONFLICT
   * when the code is actively bound to another user, 501 NOT_IMPLEMENTED when the store given to
   * memberCard() has no bindByMerchant.
   */
  bind(input: BindInput): Promise<BindResult>;
}

export function createBindings(rt: Runtime): Bindings {
  const { cardId } = rt.options;
  return {
    async bind(input: BindInput): Promise<BindResult> {
      const code = v.cardCode(input.code);
      const user = v.userIdentity(input.user);
      const actor = v.optionalText('actor', input.actor, 64) ?? 'admin';
      const store = await rt.store();
      if (!store.bindByMerchant) {
        throw new MemberCardError('NOT_IMPLEMENTED', 'The store given to memberCard() cannot record such a binding.');
      }
      const card = await rt.client.getCard(cardId, code);
      if (card.user_card_status === 'DELETE')
        throw new MemberCardError('CARD_NOT_EDITABLE', 'The holder deleted this card; it cannot be bound.');
      const result = await store.bindByMerchant({
        cardId,
        code,
        user,
        // As WeChat Pay answered it; one we could not store as it is (NUL…) is left out.
        ...(isOpaqueId(card.openid) ? { oaOpenid: card.openid } : {}),
        actor,
        requestId: `bind-${newRequestNo()}`,
      });
      if (result.outcome === 'conflict')
        throw new MemberCardError('OPERATION_CONFLICT', 'This card code is bound to another user.');
      rt.cache.invalidate(cardId, code);
      if (result.outcome === 'bound') rt.log('info', 'card code bound by the merchant', { cardId, actor });
      return { binding: result.binding, changed: result.outcome === 'bound' };
    },
  };
}
