import { MemberCardError } from '../errors.js';
import type { Runtime } from '../runtime.js';
import { keepsTopups } from '../store/roles.js';
import type { CardStore, TopupOrder, TopupOrderStore } from '../store/types.js';

// The store as top-ups use it, and the one way they change an order: compare-and-set, read again
// on a conflict (another instance, or a notification racing the reconciler, changed it first).

export type TopupStore = CardStore & TopupOrderStore;

export async function topupStore(rt: Runtime): Promise<TopupStore> {
  const store = await rt.store();
  // memberCard() checked it at creation; a store object swapped afterwards is a bug of the host's.
  if (!keepsTopups(store)) throw new MemberCardError('NOT_IMPLEMENTED', 'The store cannot keep top-up orders.');
  return store;
}

/**
 * Applies `step` to the order as stored until the change sticks. `step` answers the next order, or
 * undefined when, as the order now stands, there is nothing to change (then the order is returned).
 */
export async function change(
  store: TopupOrderStore,
  order: TopupOrder,
  step: (current: TopupOrder) => TopupOrder | undefined,
): Promise<TopupOrder> {
  let current = order;
  for (let attempt = 0; attempt < 10; attempt++) {
    const next = step(current);
    if (!next) return current;
    const stored = await store.updateTopupOrder({ ...next, updatedAt: Date.now() });
    if (stored) return stored;
    const fresh = await store.getTopupOrder(order.cardId, order.outTradeNo);
    if (!fresh) throw new MemberCardError('INTERNAL_ERROR', 'Something went wrong on our side.');
    current = fresh;
  }
  throw new MemberCardError('CARD_BUSY', 'The top-up is being updated elsewhere. Try again.', { retryAfter: 1 });
}

/** The order without the fields named (an optional field left out is removed from the stored order). */
export function without<K extends keyof TopupOrder>(order: TopupOrder, ...fields: K[]): TopupOrder {
  const copy = { ...order };
  for (const field of fields) delete copy[field];
  return copy;
}
