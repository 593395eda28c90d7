import type Router from '@koa/router';
import type { Context } from 'koa';
import type { CardRead } from '../cache/card-cache.js';
import { MemberCardError, type ErrorDetail } from '../errors.js';
import { ownedBy, requireUser, resolveCode, type ResolvedCode } from '../identity.js';
import { newRequestNo } from '../ids.js';
import { loadBrand, type Brand } from '../brand.js';
import type { Runtime } from '../runtime.js';
import type { UserIdentity } from '../store/types.js';
import type { Card, UpstreamCard } from '../wechatpay/types.js';
import { jsonBody, rejectIdentifyingQuery } from './body.js';

/** What this user may change on this card, as the client shows it. */
export type Editable = { background_picture_url?: string[] };

export interface OwnCard {
  card: UpstreamCard;
  code: string;
  /** WeChat Pay was unavailable: the last card read (within cache.maxStaleMs), read at `readAt`. */
  stale: boolean;
  readAt: number;
  /** The cache's read it came from: the same object for every hit on one kept card. */
  read: CardRead;
}

/** One public copy per card object, so a cached card is not copied again on every read. */
const publicCopies = new WeakMap<UpstreamCard, Card>();

function publicCard(card: UpstreamCard): Card {
  let copy = publicCopies.get(card);
  if (!copy) {
    const { openid: _hidden, ...rest } = card;
    copy = rest;
    publicCopies.set(card, copy);
  }
  return copy;
}

/** Stops using a binding that led nowhere or to someone else's card, and says nothing about the card. */
async function dropBinding(rt: Runtime, resolved: ResolvedCode, why: string): Promise<MemberCardError> {
  if (resolved.binding) await (await rt.store()).flagBinding(resolved.binding.cardId, resolved.binding.code);
  rt.cache.invalidate(rt.options.cardId, resolved.code);
  rt.log('warn', why, { cardId: rt.options.cardId, flagged: resolved.binding !== undefined });
  return new MemberCardError('CARD_NOT_FOUND', 'You have no member card yet.');
}

/** The caller's own card, or 404: resolve the code, fetch it, and check it carries their 服务号 openid. */
export async function loadOwnCard(ctx: Context | undefined, rt: Runtime, user: UserIdentity): Promise<OwnCard> {
  const { cardId } = rt.options;
  const resolved = await rt.cache.code(cardId, user, async () =>
    resolveCode(ctx, user, { cardId, store: await rt.store(), resolveCode: rt.options.resolveCode, log: rt.log }),
  );
  if (!resolved) throw new MemberCardError('CARD_NOT_FOUND', 'You have no member card yet.');
  let read: CardRead;
  try {
    read = await rt.cache.read(cardId, resolved.code, () => rt.client.getCard(cardId, resolved.code));
  } catch (err) {
    // WeChat Pay knows no such code (a 404, or a 400 naming it): asking again will not help.
    if (err instanceof MemberCardError && err.code === 'CARD_NOT_FOUND')
      throw await dropBinding(rt, resolved, 'card code unknown to WeChat Pay; binding flagged');
    throw err;
  }
  // Checked on every answer, a stale one too: a kept card is never shown to another user.
  if (!ownedBy(read.card, cardId, resolved.oaOpenid))
    throw await dropBinding(rt, resolved, 'card does not belong to the binding; binding flagged');
  return { card: read.card, code: resolved.code, stale: read.stale, readAt: read.readAt, read };
}

function unavailableForEdits(): MemberCardError {
  return new MemberCardError(
    'UPSTREAM_BUSY',
    'WeChat Pay is unavailable: the card cannot be changed now. Try again shortly.',
    {
      retryAfter: 5,
    },
  );
}

/** A card that is not EFFECTIVE cannot be edited at all. */
const NOTHING_EDITABLE: Editable = {};

/** Checks a self-service edit against what the merchant enabled; every other field is named in a 400. */
function readEdit(body: unknown, rt: Runtime): { background_picture_url?: string } {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new MemberCardError('INVALID_REQUEST', 'Send a JSON object with the fields to change.');
  }
  const { backgrounds } = rt.options.selfService;
  const details: ErrorDetail[] = [];
  const edit: { background_picture_url?: string } = {};
  for (const [field, value] of Object.entries(body)) {
    if (field === 'background_picture_url' && backgrounds.length) {
      if (typeof value === 'string' && backgrounds.includes(value)) edit.background_picture_url = value;
      else details.push({ field, issue: 'must be one of the backgrounds offered in editable.background_picture_url' });
    } else {
      details.push({ field, issue: 'cannot be changed here' });
    }
  }
  if (details.length) {
    const first = details[0] as ErrorDetail;
    throw new MemberCardError('INVALID_REQUEST', `"${first.field}" ${first.issue}.`, { details });
  }
  if (!Object.keys(edit).length) throw new MemberCardError('INVALID_REQUEST', 'Nothing to change.');
  return edit;
}

export function mountMyCard(router: Router, rt: Runtime): void {
  // What an EFFECTIVE card's owner may change: fixed by the merchant's selfService, built once.
  const { backgrounds } = rt.options.selfService;
  const editable: Editable = backgrounds.length ? { background_picture_url: [...backgrounds] } : NOTHING_EDITABLE;
  const reply = (ctx: Context, card: UpstreamCard, brand: Brand | null, staleSince?: number): void => {
    ctx.set('Cache-Control', 'private, no-store');
    ctx.body = {
      card: publicCard(card),
      // Nothing can be changed while WeChat Pay is unavailable (a stale answer).
      editable: card.user_card_status === 'EFFECTIVE' && staleSince === undefined ? editable : NOTHING_EDITABLE,
      brand,
      ...(staleSince === undefined ? {} : { stale: true, asOf: new Date(staleSince).toISOString() }),
    };
  };

  // The JSON of GET / per kept read and brand, encoded: a hit answers the bytes it made before (the
  // body is the same for every hit on one read; the owner check above it still runs each time). A
  // Buffer, not a string: Koa and Node then neither measure nor encode it again on each answer.
  const answered = new WeakMap<CardRead, { brand: Brand | null; json: Buffer }>();
  router.get('/', async (ctx) => {
    rejectIdentifyingQuery(ctx);
    const own = await loadOwnCard(ctx, rt, await requireUser(ctx, rt.options.identity));
    const brand = await loadBrand(rt);
    if (own.stale) return reply(ctx, own.card, brand, own.readAt);
    const made = answered.get(own.read);
    if (made && made.brand === brand) {
      ctx.set('Cache-Control', 'private, no-store');
      ctx.set('Content-Type', 'application/json; charset=utf-8');
      ctx.body = made.json;
      return;
    }
    reply(ctx, own.card, brand);
    if (rt.cache.enabled) answered.set(own.read, { brand, json: Buffer.from(JSON.stringify(ctx.body)) });
  });

  const readBody = jsonBody(rt.options.bodyLimit);
  const edit = async (ctx: Context) => {
    rejectIdentifyingQuery(ctx);
    // Who is asking before anything is read: an anonymous client cannot make us wait for a body.
    const user = await requireUser(ctx, rt.options.identity);
    await readBody(ctx, async () => {});
    // Validate before anything else, so a bad request costs no store or upstream call.
    const change = readEdit(ctx.request.body, rt);
    const { card, code, stale } = await loadOwnCard(ctx, rt, user);
    // The card shown is a stand-in while WeChat Pay is unavailable: an edit now would fail or guess.
    if (stale) throw unavailableForEdits();
    if (card.user_card_status !== 'EFFECTIVE') {
      throw new MemberCardError(
        'CARD_NOT_EDITABLE',
        `The card cannot be changed while its status is ${card.user_card_status ?? 'unknown'}.`,
      );
    }
    // One out_request_no per edit: our client's retries of this PATCH are then applied once.
    try {
      await rt.client.updateCard(rt.options.cardId, code, { ...change, out_request_no: newRequestNo() });
    } catch (err) {
      // A refusal may follow a lost answer (a retry whose out_request_no WeChat Pay calls used):
      // an edit the card shows was made, and is answered as made.
      if (!(err instanceof MemberCardError && err.code === 'INVALID_REQUEST')) throw err;
      const fresh = await rt.client.getCard(rt.options.cardId, code).catch(() => undefined);
      if (!fresh || !Object.entries(change).every(([k, v]) => fresh[k as keyof typeof change] === v)) throw err;
      rt.log('info', 'self-service edit refused on a retry, but applied (reconciled from the card)', {});
      reply(ctx, fresh, await loadBrand(rt));
      return;
    } finally {
      // Even a failed PATCH may have been applied (a lost answer): read afresh next time.
      rt.cache.invalidate(rt.options.cardId, code);
    }
    reply(ctx, { ...card, ...change }, await loadBrand(rt));
  };
  router.patch('/', edit);
  // The same edit as PUT: wx.request does not offer PATCH, so mini-programs send PUT.
  router.put('/', edit);
}
