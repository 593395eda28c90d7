import type { TopupBonus } from '../options.js';

// What a member may pay, and what each payment credits: fixed amounts or a range, plus bonus tiers
// ("充100送10": paying at least `from` credits `extra` more; the highest tier reached counts).

export interface Offers {
  amounts?: number[];
  min?: number;
  max?: number;
  bonuses: TopupBonus[];
}

/** GET {prefix}/topup: the offers as the mini-program shows them. */
export interface OffersJson {
  currency: 'CNY';
  /** Fixed amounts, each with the bonus it earns. */
  amounts?: { amount: number; bonus: number }[];
  /** Or any amount in this range (fen). */
  min?: number;
  max?: number;
  bonuses: { from: number; extra: number }[];
}

export function isOffered(offers: Offers, amount: unknown): amount is number {
  if (typeof amount !== 'number' || !Number.isSafeInteger(amount)) return false;
  if (offers.amounts) return offers.amounts.includes(amount);
  return offers.min !== undefined && offers.max !== undefined && amount >= offers.min && amount <= offers.max;
}

export function bonusFor(offers: Offers, amount: number): number {
  let best: TopupBonus | undefined;
  for (const tier of offers.bonuses) if (amount >= tier.from && (!best || tier.from > best.from)) best = tier;
  return best?.extra ?? 0;
}

export function offersJson(offers: Offers): OffersJson {
  const bonuses = [...offers.bonuses].sort((a, b) => a.from - b.from).map(({ from, extra }) => ({ from, extra }));
  if (offers.amounts) {
    return {
      currency: 'CNY',
      amounts: offers.amounts.map((amount) => ({ amount, bonus: bonusFor(offers, amount) })),
      bonuses,
    };
  }
  return {
    currency: 'CNY',
    ...(offers.min !== undefined ? { min: offers.min } : {}),
    ...(offers.max !== undefined ? { max: offers.max } : {}),
    bonuses,
  };
}
