import type { Behaviour } from './behaviour.js';
import type { Faults } from './faults.js';
import { randomAlnum, randomDigits, randomOpenid, chinaTime } from './ids.js';
import type { SandboxKeys } from './keys.js';
import type { NotificationEvent, Notifier } from './notifier.js';
import { ApiError, json, type Reply } from './reply.js';
import type { RequestLog } from './request-log.js';
import { LOGIN_CODE_TTL_MS } from './routes-sns.js';
import { CARD_STATUSES, type Card, type CardStatus, type SandboxState, type User } from './state.js';
import type { SandboxCredentials } from './types.js';
import { checkPathCode, levelRule, membershipNumberRule, rules } from './validate.js';
import { templateOf } from './routes-v3.js';
import { changeTemplate } from './template.js';

// The sandbox's own API (no signature, loopback only): it plays the WeChat user (make a person,
// log in, receive a card, view or delete it) and lets tests inspect and disturb the service.

export interface ControlContext {
  keys: SandboxKeys;
  credentials: () => SandboxCredentials;
  state: SandboxState;
  notifier: Notifier;
  faults: Faults;
  requests: RequestLog;
  behaviour: Behaviour;
}

type Json = Record<string, unknown>;

const asObject = (body: unknown): Json => rules.expectObject(body ?? {}, 'body');

function requireUser(ctx: ControlContext, body: Json): User {
  if (body.unionid === undefined && body.mp_openid === undefined) {
    throw new ApiError(400, 'PARAM_ERROR', 'give unionid or mp_openid');
  }
  const user = ctx.state.findUser(body);
  if (!user) throw new ApiError(404, 'RESOURCE_NOT_EXISTS', 'no such user');
  return user;
}

function requireCard(ctx: ControlContext, cardId: string, code: string): Card {
  const card = ctx.state.findCard(cardId, code);
  if (!card) throw new ApiError(404, 'RESOURCE_NOT_EXISTS', `no card ${cardId}/${code}`);
  return card;
}

function status(body: Json): CardStatus | undefined {
  const value = body.user_card_status;
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !(CARD_STATUSES as readonly string[]).includes(value)) {
    throw new ApiError(400, 'PARAM_ERROR', `user_card_status: one of ${CARD_STATUSES.join(', ')}`);
  }
  return value as CardStatus;
}

function nonNegative(body: Json, key: string): number | undefined {
  const n = rules.int(body, key, false);
  if (n !== undefined && n < 0) throw new ApiError(400, 'PARAM_ERROR', `${key}: must not be negative`);
  return n;
}

function createUser(ctx: ControlContext, body: Json): Reply {
  rules.onlyKnown(body, ['share_unionid', 'nickname']);
  const nickname = rules.str(body, 'nickname', { max: 32 }) ?? `微信用户${randomDigits(4)}`;
  const user: User = {
    unionid: randomOpenid(),
    mp_openid: randomOpenid(),
    oa_openid: randomOpenid(),
    share_unionid: rules.bool(body, 'share_unionid') ?? true,
    nickname,
    head_image_url: `https://thirdwx.qlogo.cn/mmopen/sandbox/${randomAlnum(16)}/132`,
  };
  ctx.state.data.users.push(user);
  ctx.state.save();
  return json(201, { unionid: user.unionid, mp_openid: user.mp_openid, oa_openid: user.oa_openid });
}

function createLoginCode(ctx: ControlContext, body: Json): Reply {
  rules.onlyKnown(body, ['unionid', 'mp_openid']);
  const user = requireUser(ctx, body);
  const jsCode = randomAlnum(32);
  ctx.state.data.login_codes.push({
    js_code: jsCode,
    mp_openid: user.mp_openid,
    expires_at: Date.now() + LOGIN_CODE_TTL_MS,
    used: false,
  });
  ctx.state.save();
  return json(201, { js_code: jsCode });
}

function uniqueCode(ctx: ControlContext): string {
  for (;;) {
    const code = randomDigits(12);
    if (!ctx.state.data.cards.some((c) => c.code === code)) return code;
  }
}

/** A code the merchant chose (MERCHANT_DEPOSIT): up to 32 characters without control characters, unique. */
function chosenCode(ctx: ControlContext, body: Json): string | undefined {
  const code = rules.str(body, 'code', { max: 32 });
  if (code === undefined) return undefined;
  try {
    checkPathCode(code);
  } catch (err) {
    if (err instanceof ApiError) throw new ApiError(400, 'PARAM_ERROR', err.message);
    throw err;
  }
  if (ctx.state.data.cards.some((c) => c.code === code)) throw new ApiError(409, 'CONFLICT', `code ${code} exists`);
  return code;
}

/**
 * What the user filled in on WeChat's card-opening form (user_information of GET codes/{code}):
 * common fields by USER_FORM_FLAG_* name, custom ones by the merchant's name.
 */
function userInformation(body: Json): Card['user_information'] | undefined {
  const given = body.user_information;
  if (given === undefined) return undefined;
  const info = rules.expectObject(given, 'user_information');
  rules.onlyKnown(info, ['common_field_list', 'custom_field_list']);
  const fields = (key: string) => {
    const list = info[key] ?? [];
    if (!Array.isArray(list)) throw new ApiError(400, 'PARAM_ERROR', `user_information.${key}: must be an array`);
    return list.map((item: unknown) => {
      const field = rules.expectObject(item, `user_information.${key}[]`);
      rules.onlyKnown(field, ['name', 'value', 'value_list']);
      const name = rules.str(field, 'name', { max: 64, required: true }) as string;
      const value = rules.str(field, 'value', { max: 256, min: 0 }) ?? '';
      const valueList = field.value_list;
      if (valueList !== undefined && !(Array.isArray(valueList) && valueList.every((v) => typeof v === 'string')))
        throw new ApiError(400, 'PARAM_ERROR', `user_information.${key}[].value_list: must be strings`);
      return { name, value, ...(valueList ? { value_list: valueList } : {}) };
    });
  };
  return { common_field_list: fields('common_field_list'), custom_field_list: fields('custom_field_list') };
}

/** ACCEPT_CARD's event_type values (MEMBERCARD.ACCEPT_CARD payload). */
const ACCEPT_EVENTS = ['NEW_ACTIVATE', 'RECOVER', 'MEMBER_CARD_ACCEPT_BY_PHONE_NUMBER'];

/**
 * The user receives a card: it exists from now on, and ACCEPT_CARD goes to the merchant. A
 * phone-synced card (a member imported by phone number, not in 卡包 yet) has no openid and sends
 * no notification unless `notify: true`; `omit_code` leaves the optional `code` out of it.
 */
function receiveCard(ctx: ControlContext, cardId: string, body: Json): Reply {
  rules.onlyKnown(body, [
    'unionid',
    'mp_openid',
    'outer_str',
    'balance',
    'bonus_value',
    'level',
    'user_card_status',
    'membership_number',
    'code',
    'phone_synced',
    'event_type',
    'omit_code',
    'notify',
    'user_information',
  ]);
  if (cardId !== ctx.keys.cardId) throw new ApiError(404, 'RESOURCE_NOT_EXISTS', `card_id ${cardId} does not exist`);
  const user = requireUser(ctx, body);
  const outerStr = rules.str(body, 'outer_str', { max: 128 });
  const phoneSynced = rules.bool(body, 'phone_synced') ?? false;
  const eventType = rules.str(body, 'event_type', { max: 64 }) ?? 'NEW_ACTIVATE';
  if (!ACCEPT_EVENTS.includes(eventType))
    throw new ApiError(400, 'PARAM_ERROR', `event_type: one of ${ACCEPT_EVENTS.join(', ')}`);
  const code = chosenCode(ctx, body) ?? uniqueCode(ctx);
  const card: Card = {
    card_id: cardId,
    code,
    ...(phoneSynced ? {} : { openid: user.oa_openid, nickname: user.nickname, head_image_url: user.head_image_url }),
    membership_number: rules.str(body, 'membership_number', membershipNumberRule) ?? code,
    level: rules.str(body, 'level', levelRule) ?? '普通会员',
    background_picture_url: 'https://wxpaylogo.qpic.cn/sandbox/default.png',
    balance: nonNegative(body, 'balance') ?? 0,
    bonus_value: nonNegative(body, 'bonus_value') ?? 0,
    user_card_status: status(body) ?? 'EFFECTIVE',
    user_information: userInformation(body) ?? {
      common_field_list: [{ name: 'USER_FORM_FLAG_NAME', value: user.nickname }],
      custom_field_list: [],
    },
    unionid: user.unionid,
    ...(phoneSynced ? { phone_synced: true } : {}),
    outer_str: outerStr,
    applied: { card: [], rights: [] },
    created_at: Date.now(),
  };
  ctx.state.data.cards.push(card);
  ctx.state.save();
  if (!(rules.bool(body, 'notify') ?? !phoneSynced)) return json(201, { code });
  const { code: _code, ...base } = eventBase(card, user);
  const notification = ctx.notifier.enqueue('MEMBERCARD.ACCEPT_CARD', {
    event_type: eventType,
    ...base,
    ...(rules.bool(body, 'omit_code') ? {} : { code }),
    ...(outerStr === undefined ? {} : { outer_str: outerStr }),
  });
  return json(201, { code, notification_id: notification.id });
}

function eventBase(card: Card, user: User | undefined): { card_id: string; code: string } & Json {
  return {
    card_id: card.card_id,
    code: card.code,
    event_time: chinaTime(),
    // A phone-synced card has no openid of its own yet: the event carries the person's.
    ...((card.openid ?? user?.oa_openid) ? { openid: card.openid ?? user?.oa_openid } : {}),
    ...(user?.share_unionid ? { unionid: user.unionid } : {}),
  };
}

const MANAGE_EVENTS = ['USER_VIEW_MEMBERCARD', 'USER_DELETE_MEMBERCARD', 'USER_MODIFY_INFORMATION'];
/** ACTIVATE_CARD's activate_scene values (MEMBERCARD.ACTIVATE_CARD payload). */
const ACTIVATE_SCENES = ['NEW_ACTIVATE', 'RECOVER'];

function cardEvent(ctx: ControlContext, card: Card, body: Json): Reply {
  rules.onlyKnown(body, ['event_type', 'outer_str', 'activate_scene']);
  const eventType = rules.str(body, 'event_type', { max: 64, required: true }) as string;
  const user = ctx.state.userOfCard(card);
  let event: NotificationEvent;
  let payload: { card_id: string; code: string } & Json;
  if (eventType === 'MEMBER_CARD_ACTIVATE') {
    const outerStr = rules.str(body, 'outer_str', { max: 128 });
    event = 'MEMBERCARD.ACTIVATE_CARD';
    const scene = rules.str(body, 'activate_scene', { max: 64 }) ?? 'NEW_ACTIVATE';
    if (!ACTIVATE_SCENES.includes(scene))
      throw new ApiError(400, 'PARAM_ERROR', `activate_scene: one of ${ACTIVATE_SCENES.join(', ')}`);
    payload = {
      event_type: eventType,
      activate_scene: scene,
      ...eventBase(card, user),
      ...(outerStr === undefined ? {} : { outer_str: outerStr }),
    };
    if (card.user_card_status === 'NOT_ACTIVATE') card.user_card_status = 'EFFECTIVE';
  } else if (MANAGE_EVENTS.includes(eventType)) {
    event = 'MEMBERCARD.USERCARD_MANAGE';
    payload = { event_type: eventType, ...eventBase(card, user) };
    if (eventType === 'USER_DELETE_MEMBERCARD') card.user_card_status = 'DELETE';
  } else {
    throw new ApiError(400, 'PARAM_ERROR', `event_type: one of MEMBER_CARD_ACTIVATE, ${MANAGE_EVENTS.join(', ')}`);
  }
  ctx.state.save();
  const notification = ctx.notifier.enqueue(event, payload);
  return json(200, { notification_id: notification.id });
}

function setCard(ctx: ControlContext, card: Card, body: Json): Reply {
  rules.onlyKnown(body, ['user_card_status', 'balance', 'bonus_value', 'level']);
  const next = {
    user_card_status: status(body),
    balance: nonNegative(body, 'balance'),
    bonus_value: nonNegative(body, 'bonus_value'),
    level: rules.str(body, 'level', levelRule),
  };
  if (next.user_card_status !== undefined) card.user_card_status = next.user_card_status;
  if (next.balance !== undefined) card.balance = next.balance;
  if (next.bonus_value !== undefined) card.bonus_value = next.bonus_value;
  if (next.level !== undefined) card.level = next.level;
  ctx.state.save();
  return json(200, card);
}

function requireTemplate(ctx: ControlContext, cardId: string): ControlContext {
  if (cardId !== ctx.keys.cardId) throw new ApiError(404, 'RESOURCE_NOT_EXISTS', `card_id ${cardId} does not exist`);
  return ctx;
}

/** The merchant edits the template in 商户平台 (display fields only); GET /cards/{card_id} answers it. */
function patchTemplate(ctx: ControlContext, body: Json): Reply {
  ctx.state.data.template = changeTemplate(templateOf(ctx), body);
  ctx.state.save();
  return json(200, ctx.state.data.template);
}

function decode(parts: string[]): string[] {
  try {
    return parts.map(decodeURIComponent);
  } catch {
    throw new ApiError(404, 'NOT_FOUND', 'malformed path');
  }
}

/** Routes one control request. `body` is the parsed JSON (undefined when the body was empty). */
export function handleControl(ctx: ControlContext, method: string, pathname: string, body: unknown): Reply {
  const parts = decode(pathname.split('/').slice(2)); // drop '' and 'sandbox'
  const route = `${method} ${parts.map((p, i) => (parts[0] === 'cards' && (i === 1 || i === 3) ? ':' : p)).join('/')}`;
  switch (route) {
    case 'GET credentials':
      return json(200, ctx.credentials());
    case 'POST users':
      return createUser(ctx, asObject(body));
    case 'POST login-codes':
      return createLoginCode(ctx, asObject(body));
    case 'GET cards/:':
      return json(200, templateOf(requireTemplate(ctx, parts[1] ?? '')));
    case 'PATCH cards/:':
      return patchTemplate(requireTemplate(ctx, parts[1] ?? ''), asObject(body));
    case 'POST cards/:/codes':
      return receiveCard(ctx, parts[1] ?? '', asObject(body));
    case 'GET cards/:/codes/:':
      return json(200, requireCard(ctx, parts[1] ?? '', parts[3] ?? ''));
    case 'PATCH cards/:/codes/:':
      return setCard(ctx, requireCard(ctx, parts[1] ?? '', parts[3] ?? ''), asObject(body));
    case 'POST cards/:/codes/:/events':
      return cardEvent(ctx, requireCard(ctx, parts[1] ?? '', parts[3] ?? ''), asObject(body));
    case 'PUT faults':
      return json(200, { data: ctx.faults.set(body ?? {}) });
    case 'GET faults':
      return json(200, { data: ctx.faults.list() });
    case 'DELETE faults':
      ctx.faults.clear();
      return json(200, { data: [] });
    case 'PUT behaviour':
      return json(200, ctx.behaviour.set(body));
    case 'GET behaviour':
      return json(200, ctx.behaviour.get());
    case 'GET requests':
      return json(200, { data: ctx.requests.list() });
    case 'DELETE requests':
      ctx.requests.clear();
      return json(200, { data: [] });
    case 'GET notifications':
      return json(200, {
        data: ctx.state.data.notifications.map((n) => ({
          id: n.id,
          event_type: n.event_type,
          card_id: n.card_id,
          code: n.code,
          attempts: n.attempts,
          last_status: n.last_status,
          last_error: n.last_error,
          last_serial: n.last_serial,
          delivered: n.delivered,
          abandoned: n.abandoned,
        })),
      });
    default:
      throw new ApiError(404, 'NOT_FOUND', `no control API at ${method} ${pathname}`);
  }
}
