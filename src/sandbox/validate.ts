import { ApiError } from './reply.js';

// Body checks for the member-card endpoints, following the documented lengths and character
// sets. Every failure names the field (dotted path) so a client can tell exactly what was wrong.

type Json = Record<string, unknown>;

export function paramError(field: string, value: unknown, issue: string, location = 'body'): ApiError {
  return new ApiError(400, 'PARAM_ERROR', `${field}: ${issue}`, { field, value, issue, location });
}

/** Parses a raw body as a JSON object (400 PARAM_ERROR otherwise). */
export function parseJsonObject(raw: string): Json {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new ApiError(400, 'PARAM_ERROR', 'the body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ApiError(400, 'PARAM_ERROR', 'the body must be a JSON object');
  }
  return value as Json;
}

const path = (prefix: string, key: string): string => (prefix ? `${prefix}.${key}` : key);
/** Lengths count characters, not UTF-16 units: '钻石会员' is 4. */
export const charLength = (s: string): number => [...s].length;

/**
 * An undocumented field is 400 PARAM_ERROR naming it: membercard-open says nothing, 商家名片 documents
 * this answer ("请求中含有未在API文档中定义的参数", doc/v3/partner/4023146634).
 */
function onlyKnown(obj: Json, known: readonly string[], prefix = ''): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) throw paramError(path(prefix, key), obj[key], 'unknown field');
  }
}

interface StringRule {
  required?: boolean;
  min?: number;
  max: number;
  pattern?: RegExp;
  patternIssue?: string;
}

function str(obj: Json, key: string, rule: StringRule, prefix = ''): string | undefined {
  const value = obj[key];
  const field = path(prefix, key);
  if (value === undefined) {
    if (rule.required) throw paramError(field, value, 'required');
    return undefined;
  }
  if (typeof value !== 'string') throw paramError(field, value, 'must be a string');
  const n = charLength(value);
  if (n < (rule.min ?? 1)) throw paramError(field, value, `must have at least ${rule.min ?? 1} characters`);
  if (n > rule.max) throw paramError(field, value, `must have at most ${rule.max} characters`);
  if (rule.pattern && !rule.pattern.test(value))
    throw paramError(field, value, rule.patternIssue ?? 'has invalid characters');
  return value;
}

function int(obj: Json, key: string, required: boolean, prefix = ''): number | undefined {
  const value = obj[key];
  const field = path(prefix, key);
  if (value === undefined) {
    if (required) throw paramError(field, value, 'required');
    return undefined;
  }
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw paramError(field, value, 'must be an integer');
  return value;
}

function bool(obj: Json, key: string, prefix = ''): boolean | undefined {
  const value = obj[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw paramError(path(prefix, key), value, 'must be a boolean');
  return value;
}

/** Digits, letters and half-width (ASCII) punctuation; no spaces. */
export const MEMBERSHIP_NUMBER = /^[\x21-\x7e]+$/;
export const OUT_REQUEST_NO = /^[A-Za-z0-9|_*-]+$/;

export const membershipNumberRule: StringRule = {
  max: 32,
  pattern: MEMBERSHIP_NUMBER,
  patternIssue: 'only digits, letters and half-width punctuation',
};
export const levelRule: StringRule = { max: 5 };
/** out_request_no: "英文字母,数字,|,_,*,-", string(32) on PATCH codes/{code}, string(128) on …/rights. */
const outRequestNo = (max: number): StringRule => ({
  required: true,
  max,
  pattern: OUT_REQUEST_NO,
  patternIssue: 'only letters, digits and |_*-',
});

function httpsUrl(obj: Json, key: string, max: number): string | undefined {
  const value = str(obj, key, { max });
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw paramError(key, value, 'must be a URL');
  }
  if (url.protocol !== 'https:') throw paramError(key, value, 'must be an https URL');
  return value;
}

function expectObject(value: unknown, field: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw paramError(field, value, 'must be an object');
  return value as Json;
}

export interface BalanceInformation {
  before_balance: number;
  balance: number;
  add_balance: number;
  balance_remark?: string;
}

export interface CardPatch {
  membership_number?: string;
  background_picture_url?: string;
  level?: string;
  out_request_no: string;
  balance_information?: BalanceInformation;
  need_inform_balance?: boolean;
  need_inform_level?: boolean;
}

/** PATCH /cards/{card_id}/codes/{code}: exactly the documented fields (update-member-code-info). */
export function validateCardPatch(body: Json): CardPatch {
  onlyKnown(body, [
    'membership_number',
    'background_picture_url',
    'level',
    'out_request_no',
    'balance_information',
    'need_inform_balance',
    'need_inform_level',
  ]);
  const patch: CardPatch = {
    membership_number: str(body, 'membership_number', membershipNumberRule),
    // The merchant page says string(32), but the answer and the template carry 128: a typo there.
    background_picture_url: httpsUrl(body, 'background_picture_url', 128),
    level: str(body, 'level', levelRule),
    out_request_no: str(body, 'out_request_no', outRequestNo(32)) as string,
    need_inform_balance: bool(body, 'need_inform_balance'),
    need_inform_level: bool(body, 'need_inform_level'),
  };
  if (body.balance_information !== undefined) {
    const p = 'balance_information';
    const info = expectObject(body.balance_information, p);
    onlyKnown(info, ['before_balance', 'balance', 'add_balance', 'balance_remark'], p);
    patch.balance_information = {
      before_balance: int(info, 'before_balance', true, p) as number,
      balance: int(info, 'balance', true, p) as number,
      add_balance: int(info, 'add_balance', true, p) as number,
      // Its length is not documented: 100 is the sandbox's own limit.
      balance_remark: str(info, 'balance_remark', { max: 100 }, p),
    };
  }
  return patch;
}

/** True when a card PATCH changes no field of the card (need_inform_* alone change nothing). */
export function changesNothing(patch: CardPatch): boolean {
  return (
    patch.membership_number === undefined &&
    patch.background_picture_url === undefined &&
    patch.level === undefined &&
    patch.balance_information === undefined
  );
}

export interface Guide {
  staff_name?: string;
  head_image_url?: string;
  contact_information_name?: string;
  contact_information_value?: string;
  phone_number?: string;
}

export interface RightsPatch {
  out_request_no: string;
  before_bonus_value?: number;
  bonus_value?: number;
  add_bonus_value?: number;
  need_inform_bonus?: boolean;
  member_price_word?: string;
  fapiao_jump_word?: string;
  guide?: Guide;
}

const GUIDE_FIELDS = [
  'staff_name',
  'head_image_url',
  'contact_information_name',
  'contact_information_value',
  'phone_number',
] as const;

/**
 * PATCH /cards/{card_id}/codes/{code}/rights: exactly the documented fields (set-user-card-rights).
 * There is no remark for points; the guide's sub-fields have no documented lengths, so only their
 * type is checked (256 characters at most, the sandbox's own bound).
 */
export function validateRightsPatch(body: Json): RightsPatch {
  onlyKnown(body, [
    'out_request_no',
    'before_bonus_value',
    'bonus_value',
    'add_bonus_value',
    'need_inform_bonus',
    'member_price_word',
    'fapiao_jump_word',
    'guide',
  ]);
  const patch: RightsPatch = {
    out_request_no: str(body, 'out_request_no', outRequestNo(128)) as string,
    before_bonus_value: int(body, 'before_bonus_value', false),
    bonus_value: int(body, 'bonus_value', false),
    add_bonus_value: int(body, 'add_bonus_value', false),
    need_inform_bonus: bool(body, 'need_inform_bonus'),
    member_price_word: str(body, 'member_price_word', { max: 8 }),
    fapiao_jump_word: str(body, 'fapiao_jump_word', { max: 6 }),
  };
  if (body.guide !== undefined) {
    const guide = expectObject(body.guide, 'guide');
    onlyKnown(guide, GUIDE_FIELDS, 'guide');
    patch.guide = {};
    for (const key of GUIDE_FIELDS) {
      const value = str(guide, key, { max: 256 }, 'guide');
      if (value !== undefined) patch.guide[key] = value;
    }
  }
  return patch;
}

/** POST /cards/{card_id}/codes/{code}/unavailable */
export function validateUnavailable(body: Json): { reason?: string } {
  onlyKnown(body, ['reason']);
  return { reason: str(body, 'reason', { max: 30 }) };
}

/** PATCH /callback */
export function validateCallback(body: Json, allowHttp: boolean): string {
  onlyKnown(body, ['notify_url']);
  const value = str(body, 'notify_url', { max: 256, required: true }) as string;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw paramError('notify_url', value, 'must be a URL');
  }
  // WeChat Pay demands https; by default the sandbox also takes http because the back ends it
  // calls run on a laptop or in CI, where there is no certificate to serve https with.
  if (url.protocol !== 'https:' && !(allowHttp && url.protocol === 'http:'))
    throw paramError('notify_url', value, allowHttp ? 'must be an http(s) URL' : 'must be an https URL');
  if (value.includes('?') || value.includes('#'))
    throw paramError('notify_url', value, 'must not carry a query string or fragment');
  return value;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** A card code as the path carries it: string(32) (get-member-code-info); any printable characters. */
export function checkPathCode(code: string): void {
  const n = charLength(code);
  if (n < 1 || n > 32) throw paramError('code', code, 'must have 1 to 32 characters', 'path');
  if (CONTROL.test(code)) throw paramError('code', code, 'must not hold control characters', 'path');
}

/** A card_id as the path carries it: string(32). */
export function checkPathCardId(cardId: string): void {
  if (charLength(cardId) > 32) throw paramError('card_id', cardId, 'must have at most 32 characters', 'path');
}

/** Exported for the control API, which reuses the same rules. */
export const rules = { str, int, bool, onlyKnown, expectObject };
