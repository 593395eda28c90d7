import type Router from '@koa/router';
import { MemberCardError } from '../errors.js';
import { requireUser } from '../identity.js';
import { openCursor, sealCursor } from '../member-codes/cursor.js';
import { invalid } from '../operations/validate.js';
import type { Runtime } from '../runtime.js';
import type { AuditEntry, AuditKind } from '../store/types.js';
import { loadOwnCard } from './my-card.js';

/** What a member sees of their card's changes: money, points and level (not binds or number changes). */
const KINDS: readonly AuditKind[] = ['balance', 'points', 'level'];
const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 50;

/** One line of `GET /history`. The actor (a cashier id) stays with the merchant. */
export interface HistoryItem {
  kind: 'balance' | 'points' | 'level';
  /** balance (fen) and points: the signed change. */
  amount?: number;
  balanceAfter?: number;
  pointsAfter?: number;
  /** level: the level set. */
  level?: string;
  remark: string;
  /** ISO 8601. */
  at: string;
}

function itemOf(entry: AuditEntry): HistoryItem {
  const item: HistoryItem = {
    kind: entry.kind as HistoryItem['kind'],
    remark: entry.remark ?? '',
    at: new Date(entry.at).toISOString(),
  };
  if (entry.amount !== undefined) item.amount = entry.amount;
  if (entry.kind === 'balance' && typeof entry.after === 'number') item.balanceAfter = entry.after;
  if (entry.kind === 'points' && typeof entry.after === 'number') item.pointsAfter = entry.after;
  if (entry.kind === 'level') item.level = String(entry.after);
  return item;
}

function queryOf(query: Record<string, unknown>): { limit: number; cursor?: string } {
  const unknown = Object.keys(query).find((k) => k !== 'cursor' && k !== 'limit');
  if (unknown !== undefined) throw invalid(unknown, 'is not a parameter of GET /history (allowed: cursor, limit)');
  const { cursor, limit } = query;
  if (
    limit !== undefined &&
    (typeof limit !== 'string' || !/^\d{1,3}$/.test(limit) || +limit < 1 || +limit > MAX_LIMIT)
  )
    throw invalid('limit', `must be a whole number 1-${MAX_LIMIT}`);
  if (cursor !== undefined && typeof cursor !== 'string') throw invalid('cursor', 'must be given once');
  return { limit: limit === undefined ? DEFAULT_LIMIT : Number(limit), ...(cursor ? { cursor } : {}) };
}

/**
 * GET /history?cursor=&limit=: the caller's own card's changes, newest first. The card comes from
 * the caller's login only; the cursor holds a position sealed to that card, so whatever it says,
 * it can only page through the caller's own lines (another card's cursor, or an altered one, is 400).
 */
export function mountHistory(router: Router, rt: Runtime): void {
  const { cardId } = rt.options;
  router.get('/history', async (ctx) => {
    const { limit, cursor } = queryOf(ctx.query);
    const user = await requireUser(ctx, rt.options.identity);
    const { code } = await loadOwnCard(ctx, rt, user);
    let before: number | undefined;
    if (cursor !== undefined) {
      before = openCursor(rt.secrets.cursor, cardId, code, cursor);
      if (before === undefined) throw invalid('cursor', 'is not a cursor this server gave for your card');
    }
    const store = await rt.store();
    if (!store.listAuditPage)
      throw new MemberCardError('NOT_IMPLEMENTED', 'This store cannot page the history (listAuditPage).');
    const page = await store.listAuditPage(cardId, code, {
      limit,
      kinds: KINDS,
      ...(before !== undefined ? { before } : {}),
    });
    ctx.set('Cache-Control', 'private, no-store');
    ctx.body = {
      items: page.entries.map(itemOf),
      next: page.next === undefined ? null : sealCursor(rt.secrets.cursor, cardId, code, page.next),
    };
  });
}
