import type { Behaviour } from './behaviour.js';
import type { SandboxKeys } from './keys.js';
import type { Notifier } from './notifier.js';
import { ApiError, json, noContent, type Reply } from './reply.js';
import type { Card, SandboxState } from './state.js';
import { defaultTemplate, unknownCardId, type CardTemplate } from './template.js';
import {
  changesNothing,
  checkPathCardId,
  checkPathCode,
  paramError,
  parseJsonObject,
  validateCallback,
  validateCardPatch,
  validateRightsPatch,
  validateUnavailable,
} from './validate.js';

// The signed WeChat Pay APIv3 member-card endpoints. The caller has already checked the
// signature; this module only knows the business rules. Where the documentation is silent, the
// answer comes from a behaviour switch (behaviour.ts).

export const V3_PREFIX = '/v3/marketing/membercard-open';

export interface V3Context {
  keys: SandboxKeys;
  state: SandboxState;
  notifier: Notifier;
  behaviour: Behaviour;
}

export interface V3Request {
  method: string;
  pathname: string;
  query: URLSearchParams;
  body: string;
}

/**
 * The card as WeChat Pay answers it, without the sandbox's own bookkeeping. Every field of the
 * answer is optional (get-member-code-info): a member synced by phone number has no openid,
 * nickname or head image until the card is in their 卡包.
 */
export function publicCard(card: Card): Record<string, unknown> {
  const { unionid: _u, outer_str: _o, applied: _a, created_at: _c, phone_synced: _p, ...visible } = card;
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
  checkPathCardId(cardId);
  checkPathCode(code);
  // The documented answer for a card_id that is not the merchant's (error table of every page).
  if (cardId !== ctx.keys.cardId) throw unknownCardId(cardId);
  const card = ctx.state.findCard(cardId, code);
  if (card) return card;
  if (ctx.behaviour.get().unknownCode === 400)
    throw new ApiError(400, 'INVALID_REQUEST', `会员卡code无效: code ${code} is not a code of this card`);
  throw new ApiError(404, 'RESOURCE_NOT_EXISTS', `code ${code} does not exist under card_id ${cardId}`);
}

function requireEffective(ctx: V3Context, card: Card): void {
  if (ctx.behaviour.get().statusCheck === 'on' && card.user_card_status !== 'EFFECTIVE') {
    throw new ApiError(
      400,
      'INVALID_REQUEST',
      `the card is ${card.user_card_status}, only an EFFECTIVE card can be changed`,
    );
  }
}

/** A replayed out_request_no: the first answer again (204), or a refusal saying it was used. */
function replay(ctx: V3Context, outRequestNo: string): Reply {
  if (ctx.behaviour.get().replayAnswer === 400)
    throw new ApiError(400, 'INVALID_REQUEST', `out_request_no ${outRequestNo} has been used (商户单号已使用)`);
  return noContent();
}

/**
 * The documentation says nothing about checking these numbers; with balanceCheck 'strict' (the
 * default) the sandbox checks that they add up, start from the stored value and stay ≥ 0, so our
 * own code is held to sending consistent numbers.
 */
function checkConsistency(
  ctx: V3Context,
  what: 'balance' | 'bonus_value',
  stored: number,
  before: number,
  add: number,
  after: number,
): void {
  if (ctx.behaviour.get().balanceCheck === 'off') return;
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

/** The merchant's card template, made with the documented defaults on first use. */
export function templateOf(ctx: { keys: SandboxKeys; state: SandboxState }): CardTemplate {
  ctx.state.data.template ??= defaultTemplate(ctx.keys.cardId, ctx.keys.appid);
  return ctx.state.data.template;
}

/** GET /cards/{card_id} (查询会员卡模板信息): the template's documented fields. */
function getTemplate(ctx: V3Context, cardId: string): Reply {
  checkPathCardId(cardId);
  if (cardId !== ctx.keys.cardId) throw unknownCardId(cardId);
  return json(200, templateOf(ctx));
}

function getCard(ctx: V3Context, cardId: string, code: string): Reply {
  return json(200, publicCard(requireCard(ctx, cardId, code)));
}

function patchCard(ctx: V3Context, cardId: string, code: string, body: string): Reply {
  const patch = validateCardPatch(parseJsonObject(body));
  if (changesNothing(patch) && ctx.behaviour.get().emptyPatch === 'refuse') {
    throw new ApiError(
      400,
      'PARAM_ERROR',
      'nothing to change: give membership_number, background_picture_url, level or balance_information',
    );
  }
  const card = requireCard(ctx, cardId, code);
  // A replay of an applied request (e.g. a client retry after a timeout) changes nothing; this
  // comes before every other check, so a retry always gets the same answer.
  if (card.applied.card.includes(patch.out_request_no)) return replay(ctx, patch.out_request_no);
  requireEffective(ctx, card);
  const info = patch.balance_information;
  if (info) checkConsistency(ctx, 'balance', card.balance, info.before_balance, info.add_balance, info.balance);
  if (patch.membership_number !== undefined) card.membership_number = patch.membership_number;
  if (patch.background_picture_url !== undefined) card.background_picture_url = patch.background_picture_url;
  if (patch.level !== undefined) card.level = patch.level;
  if (info) card.balance = info.balance;
  card.applied.card.push(patch.out_request_no);
  ctx.state.save();
  return noContent();
}

function patchRights(ctx: V3Context, cardId: string, code: string, body: string): Reply {
  const patch = validateRightsPatch(parseJsonObject(body));
  const card = requireCard(ctx, cardId, code);
  if (card.applied.rights.includes(patch.out_request_no)) return replay(ctx, patch.out_request_no);
  requireEffective(ctx, card);
  const { before_bonus_value: before, add_bonus_value: add, bonus_value: after } = patch;
  const given = [before, add, after].filter((v) => v !== undefined).length;
  if (given > 0) {
    if (ctx.behaviour.get().balanceCheck === 'strict') {
      // All three are optional in the documentation; a points change needs all three to be checked.
      const missing = (['before_bonus_value', 'add_bonus_value', 'bonus_value'] as const).find(
        (k) => patch[k] === undefined,
      );
      if (missing) throw paramError(missing, undefined, 'required with the other points values (sandbox rule)');
      checkConsistency(ctx, 'bonus_value', card.bonus_value, before as number, add as number, after as number);
    }
    card.bonus_value = after ?? card.bonus_value + (add ?? 0);
  }
  card.applied.rights.push(patch.out_request_no);
  ctx.state.save();
  return noContent();
}

function makeUnavailable(ctx: V3Context, cardId: string, code: string, body: string): Reply {
  validateUnavailable(parseJsonObject(body));
  const card = requireCard(ctx, cardId, code);
  requireEffective(ctx, card);
  card.user_card_status = 'UNAVAILABLE';
  ctx.state.save();
  return noContent();
}

function queryInt(query: URLSearchParams, name: string, min: number, max: number): number {
  const raw = query.get(name);
  if (raw === null || raw === '') throw paramError(name, raw, 'required', 'query');
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw paramError(name, raw, `must be an integer from ${min} to ${max}`, 'query');
  return n;
}

/**
 * GET /user/cards (list-user-card): openid required; appid optional (the 服务号's, when given);
 * offset required, a page number from 0; limit required, at most 20.
 */
function userCards(ctx: V3Context, query: URLSearchParams): Reply {
  const openid = query.get('openid');
  if (!openid) throw paramError('openid', openid, 'required', 'query');
  if (openid.length > 128) throw paramError('openid', openid, 'must have at most 128 characters', 'query');
  const appid = query.get('appid');
  if (appid !== null && appid !== ctx.keys.appid)
    throw paramError('appid', appid, "is not the AppID of this merchant's card template", 'query');
  const offset = queryInt(query, 'offset', 0, Number.MAX_SAFE_INTEGER);
  const limit = queryInt(query, 'limit', 1, 20);
  const listDeleted = ctx.behaviour.get().listDeleted;
  const held = ctx.state.data.cards.filter(
    (c) => c.openid === openid && (listDeleted || c.user_card_status !== 'DELETE'),
  );
  const page = held.slice(offset * limit, offset * limit + limit);
  return json(200, {
    data: page.map((c) => ({ card_id: c.card_id, code: c.code })),
    total_count: held.length,
    offset,
    limit,
  });
}

/** PATCH /callback answers what GET answers (200 {notify_url, mchid}), or 204 by switch. */
function setCallback(ctx: V3Context, body: string): Reply {
  const b = ctx.behaviour.get();
  ctx.state.data.notify_url = validateCallback(parseJsonObject(body), b.allowHttpNotifyUrl);
  ctx.state.save();
  ctx.notifier.resume(); // pending notifications go out now that they have somewhere to go
  if (b.callbackPatchAnswer === 204) return noContent();
  return json(200, { notify_url: ctx.state.data.notify_url, mchid: ctx.keys.mchid });
}

function getCallback(ctx: V3Context): Reply {
  const url = ctx.state.data.notify_url;
  if (url === null && ctx.behaviour.get().callbackUnset === 404)
    throw new ApiError(404, 'RESOURCE_NOT_EXISTS', 'no notify_url has been set');
  return json(200, { notify_url: url ?? '', mchid: ctx.keys.mchid });
}

/** Routes one signed request; throws ApiError for every error answer. */
export function handleV3(ctx: V3Context, req: V3Request): Reply {
  const notFound = (): ApiError => new ApiError(404, 'NOT_FOUND', `no API at ${req.method} ${req.pathname}`);
  if (!req.pathname.startsWith(`${V3_PREFIX}/`)) throw notFound();
  const parts = segments(req.pathname.slice(V3_PREFIX.length + 1));
  if (!parts) throw notFound();
  const m = req.method;

  if (parts.length === 1 && parts[0] === 'callback') {
    if (m === 'GET') return getCallback(ctx);
    if (m === 'PATCH') return setCallback(ctx, req.body);
  }
  if (parts.length === 2 && parts[0] === 'user' && parts[1] === 'cards' && m === 'GET')
    return userCards(ctx, req.query);
  if (parts.length === 2 && parts[0] === 'cards' && parts[1] && m === 'GET') return getTemplate(ctx, parts[1]);
  if (parts[0] === 'cards' && parts[2] === 'codes' && parts[1] && parts[3] !== undefined) {
    const [, cardId, , code, action] = parts as [string, string, string, string, string | undefined];
    if (parts.length === 4 && m === 'GET') return getCard(ctx, cardId, code);
    if (parts.length === 4 && m === 'PATCH') return patchCard(ctx, cardId, code, req.body);
    if (parts.length === 5 && action === 'rights' && m === 'PATCH') return patchRights(ctx, cardId, code, req.body);
    if (parts.length === 5 && action === 'unavailable' && m === 'POST')
      return makeUnavailable(ctx, cardId, code, req.body);
  }
  throw notFound();
}
