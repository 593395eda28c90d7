// The card-opening "ticket": GET /open's answer, fetched as soon as the "no card" state shows, so that
// the tap on "领取会员卡" can open WeChat's card-opening mini-program synchronously (WeChat refuses
// the jump outside a tap, and our awaits would take us outside it). Its outer_str is single-use and
// expires, so a ticket is refetched before it goes stale and is handed out once.
import type { OpenCardAnswer } from './api';

/** wx.navigateToMiniProgram's options without the callbacks: also what the `opencard` event carries. */
export interface OpenCardParams {
  appId: string;
  path: string;
  envVersion: 'release' | 'trial' | 'develop';
  extraData: Record<string, unknown>;
}

export interface Ticket {
  params: OpenCardParams;
  /** Epoch milliseconds after which the back end no longer accepts its outer_str. */
  expiresAt: number;
  fetchedAt: number;
}

/** A ticket this close to expiry is not handed out: the user still has to take the card with it. */
export const STALE_MARGIN_MS = 5 * 60 * 1000;
/** When the answer says nothing about expiry (an older back end): its default outer_str lifetime. */
const ASSUMED_LIFETIME_MS = 30 * 60 * 1000;
/** However short the back end's lifetime, refetch no more often than this. */
const MIN_REFETCH_MS = 5 * 1000;

export function ticketFrom(answer: OpenCardAnswer, now = Date.now()): Ticket {
  const parsed = typeof answer.expiresAt === 'string' ? Date.parse(answer.expiresAt) : NaN;
  return {
    params: {
      appId: answer.appId,
      path: answer.path,
      envVersion: answer.envVersion || 'release',
      extraData: answer.extraData,
    },
    expiresAt: Number.isFinite(parsed) ? parsed : now + ASSUMED_LIFETIME_MS,
    fetchedAt: now,
  };
}

/** The stale margin, shrunk for short lifetimes so that a fresh ticket is never already stale. */
function staleAt(ticket: Ticket): number {
  return ticket.expiresAt - Math.min(STALE_MARGIN_MS, Math.max(0, (ticket.expiresAt - ticket.fetchedAt) / 2));
}

export function isFresh(ticket: Ticket, now = Date.now()): boolean {
  return now < staleAt(ticket);
}

/** Milliseconds until the ticket should be replaced. */
export function refetchIn(ticket: Ticket, now = Date.now()): number {
  return Math.max(MIN_REFETCH_MS, staleAt(ticket) - now);
}
