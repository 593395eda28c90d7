import { MemberCardError } from '../errors.js';
import type { UserIdentity } from '../store/types.js';
import { isCardCode, isOpaqueId } from '../ids.js';
import { characters, isWellFormed } from '../text.js';

/** What a field is called where it came from: camelCase in the API, snake_case over HTTP. */
export type FieldNames = Record<string, string>;

export function invalid(field: string, issue: string, names: FieldNames = {}): MemberCardError {
  const name = names[field] ?? field;
  return new MemberCardError('INVALID_REQUEST', `"${name}" ${issue}.`, { details: [{ field: name, issue }] });
}

const REQUEST_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** WeChat Pay: digits, letters and half-width punctuation, ≤ 32. */
const MEMBERSHIP_NUMBER = /^[\x21-\x7e]{1,32}$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

export function requestId(value: unknown, names?: FieldNames): string {
  if (typeof value !== 'string' || !REQUEST_ID.test(value))
    throw invalid('requestId', 'must be 1-64 letters, digits, "_" or "-"', names);
  return value;
}

export function amount(value: unknown, names?: FieldNames): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value === 0) {
    throw invalid('amount', 'must be a non-zero whole number (fen for balance, points for points)', names);
  }
  return value;
}

function text(field: string, value: unknown, max: number, names?: FieldNames): string {
  const length = typeof value === 'string' ? characters(value) : 0;
  if (typeof value !== 'string' || length === 0 || length > max || CONTROL.test(value)) {
    throw invalid(field, `must be 1-${max} characters without control characters`, names);
  }
  if (!isWellFormed(value)) throw invalid(field, 'must be well-formed Unicode (it holds a lone surrogate)', names);
  return value;
}

export function optionalText(field: string, value: unknown, max: number, names?: FieldNames): string | undefined {
  return value === undefined ? undefined : text(field, value, max, names);
}

export function level(value: unknown, names?: FieldNames): string {
  return text('level', value, 5, names);
}

export function membershipNumber(value: unknown, names?: FieldNames): string {
  if (typeof value !== 'string' || !MEMBERSHIP_NUMBER.test(value)) {
    throw invalid('membershipNumber', 'must be 1-32 digits, letters or half-width punctuation', names);
  }
  return value;
}

/** Exactly one of code / user. */
export function target(
  input: { code?: unknown; user?: unknown },
  names?: FieldNames,
): { code: string } | { user: UserIdentity } {
  const hasCode = input.code !== undefined;
  const hasUser = input.user !== undefined;
  if (hasCode === hasUser) throw invalid('code', 'or "user" must be given (one of them)', names);
  if (hasCode) return { code: cardCode(input.code, names) };
  return { user: userIdentity(input.user, names) };
}

export function cardCode(value: unknown, names?: FieldNames): string {
  if (!isCardCode(value))
    throw invalid('code', 'must be a card code: 1-32 characters without control characters', names);
  return value;
}

/** A mini-program user: {openid, unionid?}, each 1-128 characters. */
export function userIdentity(value: unknown, names?: FieldNames): UserIdentity {
  const user = value as { openid?: unknown; unionid?: unknown } | null | undefined;
  if (!user || typeof user !== 'object' || !isOpaqueId(user.openid)) {
    throw invalid('user', 'must be {openid, unionid?}: each 1-128 characters without control characters', names);
  }
  if (user.unionid !== undefined && !isOpaqueId(user.unionid)) {
    throw invalid('user.unionid', 'must be a unionid: 1-128 characters without control characters', names);
  }
  return user.unionid ? { openid: user.openid, unionid: user.unionid } : { openid: user.openid };
}

export function limit(value: unknown, names?: FieldNames): number {
  if (value === undefined) return 50;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 500)
    throw invalid('limit', 'must be a whole number 1-500', names);
  return value;
}
