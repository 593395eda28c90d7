import { randomBytes, randomInt } from 'node:crypto';

// Random identifiers shaped like the ones WeChat hands out, so code that validates or stores
// them (lengths, character sets) is exercised with realistic values.

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const URL_SAFE = `${ALNUM}-_`;

/** `length` characters drawn uniformly from `alphabet` (rejection-free via randomInt). */
export function randomFrom(alphabet: string, length: number): string {
  let out = '';
  for (let i = 0; i < length; i += 1) out += alphabet[randomInt(alphabet.length)];
  return out;
}

export const randomAlnum = (length: number): string => randomFrom(ALNUM, length);
export const randomUrlSafe = (length: number): string => randomFrom(URL_SAFE, length);
export const randomHex = (bytes: number): string => randomBytes(bytes).toString('hex');

/** Digits with a non-zero first digit, so the value keeps its length as a number too. */
export function randomDigits(length: number): string {
  return String(randomInt(1, 10)) + randomFrom('0123456789', length - 1);
}

/** An openid/unionid lookalike: 'o' + 27 URL-safe characters (28 in all, like real ones). */
export const randomOpenid = (): string => `o${randomUrlSafe(27)}`;

/** A nonce like WeChat Pay's: 32 upper-case letters and digits. */
export const randomNonce = (): string => randomFrom('ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', 32);

/** WeChat's Request-ID values are long hex strings; the exact format carries no meaning. */
export const randomRequestId = (): string => randomHex(16).toUpperCase();

/** RFC 3339 in China Standard Time, the way WeChat Pay writes create_time / event_time. */
export function chinaTime(ms: number = Date.now()): string {
  return `${new Date(ms + 8 * 3600_000).toISOString().slice(0, 19)}+08:00`;
}
