import type { SandboxKeys } from './keys.js';
import type { Notifier } from './notifier.js';
import { ApiError, json, noContent, type Reply } from './reply.js';
import type { Card, SandboxState } from './state.js';
import {
  paramError,
  parseJsonObject,
  validateCallback,
  validateCardPatch,
  validateRightsPatch,
  validateUnavailable,
} from './validate.js';

// The signed WeChat Pay APIv3 member-card endpoints. The caller has already checked the
// signature; this module only knows the business rules.

export const V3_PREFIX = '/v3/marketing/membercard-open';

export interface V3Context {
  keys: SandboxKeys;
  state: SandboxState;
  notifier: Notifier;
}

export interface V3Request {
  method: string;
  pathname: string;
  query: URLSearchParams;
  body: string;
}

/** The card as WeChat Pay answers it, without the sandbox's own bookkeeping. */
export function publicCard(card: Card): Record<string, unknown> {
  const { unionid: _u, outer_str: _o, applied: _a, created_at: _c, ...visible } = card;
  return visible;
}

function segments(rest: string): string[] | undefined {
  try {
    return rest.split('/').map(decodeURIComponent);
  } catch {
    return undefined;
  }
}

function requireCard(ctx: V3Context, cardId: string, code: string): Card {
  if (cardId !== ctx.keys.cardId) throw new ApiError(404, 'RESOURCE_NOT_EXISTS', `card_id ${cardId} does not exist`);
  const card = ctx.state.findCard(cardId, code);
  if (!card) throw new ApiError(404, 'RESOURCE_NOT_EXISTS', `code ${code} does not exist under card_id ${cardId}`);
  return card;
}

function requireEffective(card: Card): void {
  if (card.user_card_status !== 'EFFECTIVE') {
    throw new ApiError(
      400,
      'INVALID_REQUEST',
      `the card is ${card.user_card_status}, only an EFFECTIVE card can be changed`,
    );
  }
}

/**
 * Stricter than WeChat Pay documents, on purpose: our own code must always send numbers that
 * add up and start from the stored value, and never take a balance below zero.
 */
function checkConsistency(
  what: 'balance' | 'bonus_value',
  stored: number,
  before: number,
  add: number,
  after: number,
): void {
  const [b, a, r] =
    what === 'balance'
      ? ['before_balance', 'add_balance', 'balance']
      : ['before_bonus_value', 'add_bonus_value', 'bonus_value'];
  if (before + add !== after)
    throw new ApiError(400, 'INVALID_REQUEST', `${b} + ${a} (${before} + ${add}) does not equal ${r} (${after})`);
  if (before !== stored)
    throw new ApiError(400, 'INVALID_REQUEST', `${b} (${before}) does not equal the stored ${what} (${stored})`);
  if (after < 0) throw new ApiError(400, 'INVALID_REQUEST', `${r} would be negative (${after})`);
}

function getCard(ctx: V3Context, cardId: string, code: string): Reply {
  return json(200, publicCard(requireCard(ctx, cardId, code)));
}

function patchCard(ctx: V3Context, cardId: string, code: string, body: string): Reply {
  const patch = validateCardPatch(parseJsonObject(body));
  const card = requireCard(ctx, cardId, code);
  // A replay of an applied request (e.g. a client retry after a timeout) succeeds and changes
  // nothing; this comes before every other check so a retry always gets the first answer.
  if (patch.out_request_no !== undefined && card.applied.card.includes(patch.out_request_no)) return noContent();
  requireEffective(card);
  const info = patch.balance_information;
  if (info) checkConsistency('balance', card.balance, info.before_balance, info.add_balance, info.balance);
  if (patch.membership_number !== undefined) card.membership_number = patch.membership_number;
  if (patch.background_picture_url !== undefined) card.background_picture_url = patch.background_picture_url;
  if (patch.level !== undefined) card.level = patch.level;
  if (info) card.balance = info.balance;
  if (patch.out_request_no !== undefined) card.applied.card.push(patch.out_request_no);
  ctx.state.save();
  return noContent();
}

function patchRights(ctx: V3Context, cardId: string, code: string, body: string): Reply {
  const patch = validateRightsPatch(parseJsonObject(body));
  const card = requireCard(ctx, cardId, code);
  if (card.applied.rights.includes(patch.out_request_no)) return noContent();
  requireEffective(card);
  checkConsistency('bonus_value', card.bonus_value, patch.before_bonus_value, patch.add_bonus_value, patch.bonus_value);
  card.bonus_value = patch.bonus_value;
  card.applied.rights.push(patch.out_request_no);
  ctx.state.save();
  return noContent();
}

function makeUnavailable(ctx: V3Context, cardId: string, code: string, body: string): Reply {
  validateUnavailable(parseJsonObject(body));
  const card = requireCard(ctx, cardId, code);
  requireEffective(card);
  card.user_card_status = 'UNAVAILABLE';
  ctx.state.save();
  return noContent();
}

function queryInt(query: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const raw = query.get(name);
  if (raw === null || raw === '') return fallback;
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw paramError(name, raw, `must be an integer from ${min} to ${max}`, 'query');
  return n;
}

function userCards(ctx: V3Context, query: URLSearchParams): Reply {
  const openid = query.get('openid');
  if (!openid) throw paramError('openid', openid, 'required', 'query');
  const appid = query.get('appid');
  if (!appid) throw paramError('appid', appid, 'required', 'query');
  if (appid !== ctx.keys.appid)
    throw paramError('appid', appid, "is not the AppID of this merchant's card template", 'query');
  const offset = queryInt(query, 'offset', 0, 0, Number.MAX_SAFE_INTEGER);
  const limit = queryInt(query, 'limit', 10, 1, 20);
  // A card the user deleted is no longer held by them.
  const held = ctx.state.data.cards.filter((c) => c.openid === openid && c.user_card_status !== 'DELETE');
  return json(200, {
    data: held.slice(offset, offset + limit).map((c) => ({ card_id: c.card_id, code: c.code })),
    total_count: held.length,
    offset,
    limit,
  });
}

function setCallback(ctx: V3Context, body: string): Reply {
  ctx.state.data.notify_url = validateCallback(parseJsonObject(body));
  ctx.state.save();
  ctx.notifier.resume(); // pending notifications go out now that they have somewhere to go
  return noContent();
}

/** Routes one signed request; throws ApiError for every error answer. */
export function handleV3(ctx: V3Context, req: V3Request): Reply {
  const notFound = (): ApiError => new ApiError(404, 'NOT_FOUND', `no API at ${req.method} ${req.pathname}`);
  if (!req.pathname.startsWith(`${V3_PREFIX}/`)) throw notFound();
  const parts = segments(req.pathname.slice(V3_PREFIX.length + 1));
  if (!parts) throw notFound();
  const m = req.method;

  if (parts.length === 1 && parts[0] === 'callback') {
    if (m === 'GET') return json(200, { notify_url: ctx.state.data.notify_url ?? '', mchid: ctx.keys.mchid });
    if (m === 'PATCH') return setCallback(ctx, req.body);
  }
  if (parts.length === 2 && parts[0] === 'user' && parts[1] === 'cards' && m === 'GET')
    return userCards(ctx, req.query);
  if (parts[0] === 'cards' && parts[2] === 'codes' && parts[1] && parts[3]) {
    const [, cardId, , code, action] = parts as [string, string, string, string, string | undefined];
    if (parts.length === 4 && m === 'GET') return getCard(ctx, cardId, code);
    if (parts.length === 4 && m === 'PATCH') return patchCard(ctx, cardId, code, req.body);
    if (parts.length === 5 && action === 'rights' && m === 'PATCH') return patchRights(ctx, cardId, code, req.body);
    if (parts.length === 5 && action === 'unavailable' && m === 'POST')
      return makeUnavailable(ctx, cardId, code, req.body);
  }
  throw notFound();
}
